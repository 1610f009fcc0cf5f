"""piapi's cli layer."""
