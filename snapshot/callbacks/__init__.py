"""Completion callbacks: the URL guard (urls), the retry policy (policy, pure) and one delivery (delivery, I/O)."""
