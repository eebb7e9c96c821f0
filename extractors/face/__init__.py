"""face backends; importing this package registers them."""
