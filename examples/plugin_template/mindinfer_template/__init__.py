"""A minimal mindinfer backend plugin (template for vendors)."""
