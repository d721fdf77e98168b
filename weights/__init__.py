"""Shipped model weights; installed as the package ``cas_studio._weights`` so names resolve after pip install."""
