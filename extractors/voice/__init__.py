"""voice backends; importing this package registers them."""
