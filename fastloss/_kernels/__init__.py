"""Kernel machinery: scalar maths helpers and the factories that turn them into kernels."""
