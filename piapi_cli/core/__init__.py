"""piapi's core layer."""
