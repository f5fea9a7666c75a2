"""The viewer's screens besides the main one."""
