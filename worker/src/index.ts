/**
 * @leadstats/worker: the Worker half of leadstats. A lead-capture Worker calls
 * {@link recordLeadEvent} on each of its four paths (accepted submit, test IP, blocked IP, honeypot
 * bot); each event becomes one Analytics Engine data point (CONTRACT §5) and, optionally, is sent to
 * `leadstats serve` directly or through a Queue. See docs/worker.md.
 */

export {
  EVENT_TYPES, ENGAGEMENT_LABELS, STRING_FIELDS, REFERER_MAX_CHARS, EVENT_ID_MAX_CHARS,
  LeadEventError, normalizeEvent, deriveEventId, withEventId, cutChars,
  type EventType, type EngagementLabel, type StringField, type LeadEvent, type LeadEventInput,
} from "./event.js";
export {
  AE_LIMITS, BLOB_COLUMNS, DOUBLE_COLUMNS, toDataPoint, cutBytes, utf8Bytes,
  type AnalyticsEngineDataPoint, type AnalyticsEngineDatasetLike, type LeadDataPoint,
} from "./datapoint.js";
export {
  MAX_EVENTS_PER_REQUEST, MAX_BODY_BYTES, LeadstatsDeliveryError, forwardEvents, postEvents, chunkEvents,
  retryAfterSeconds,
  type ForwardOptions, type ForwardResult, type IngestAnswer, type RetryOptions,
} from "./forward.js";
export {
  recordLeadEvent, bindingsFromEnv, DEFAULT_ENV_NAMES,
  type LeadstatsBindings, type RecordResult, type Delivery, type QueueProducerLike, type WaitUntilLike, type EnvNames,
} from "./record.js";
export {
  consumeLeadEvents, createQueueConsumer, queueConsumer,
  type QueueMessageLike, type MessageBatchLike, type ConsumerOptions, type ConsumeResult,
} from "./queue.js";
export {
  acceptedSubmit, testSubmit, blockedSubmit, botSubmit, requestFields,
  type SubmitFields, type AcceptedFields,
} from "./paths.js";
