"""The viewer's widgets: each gets its data from above and posts messages up."""
