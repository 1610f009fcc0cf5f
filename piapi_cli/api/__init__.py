"""piapi's api layer."""
