"""The HTML change report: what changed between two snapshots, as one self-contained page (pure: no I/O).

`render.ChangeReport` consumes the merge's `diff.merge.DiffEvent`s one at a time and keeps only what the
page can hold; `markup` writes the pieces. Rules:
- Self-contained and e-mail safe: inline `style` attributes only (mail clients strip `<style>`), no script,
  no image, nothing fetched; tables for layout, a fixed-layout width so nothing overflows a narrow window.
- Every value from the tenant (names, types, paths, property values, ids) is escaped with `html.escape`,
  and control, bidirectional-override and invisible format characters are shown as `\\uXXXX` text.
- Bounded: at most `render.MAX_REPORT_BYTES` bytes (1 MiB, far under the few MB at which mail services cut
  or refuse a body). Past it, resources are left out, the page says how many and links the JSON diff. The
  summary counts are always complete. A property value longer than `markup.MAX_VALUE_CHARS` characters is
  shortened, with its full length stated; a resource lists at most `render.MAX_PATHS` paths.
"""
