"""Compare two snapshots' resources, streaming (pure logic: no I/O, no services).

`merge.diff_streams(old, new)` merge-joins two streams of raw resources (`{displayName, resourceType,
properties}`), both in the stores' RowKey order, holding one resource per side at a time; it compares each
matched pair's `properties` with `values.diff_resource` and collects the capped report in a
`result.DiffResult`. Each module's docstring states its rules: matching (`merge`), normalisation, paths and
walking (`values`), the result's counts and caps (`result`).
"""
