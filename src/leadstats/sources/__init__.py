"""Importers that stream bounded batches from outside sources into the store."""
