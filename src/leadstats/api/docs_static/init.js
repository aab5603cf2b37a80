// Starts Swagger UI on /docs (a file, not an inline script: the page's CSP allows scripts from the
// server only). Swagger UI's own files come from the fastapi-offline package: no CDN.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
