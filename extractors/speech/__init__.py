"""speech backends; importing this package registers them."""
