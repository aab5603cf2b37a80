"""Pure data model: events, report queries and results, time grids. No I/O, no drivers."""
