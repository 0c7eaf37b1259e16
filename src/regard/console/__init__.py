"""The staff console's figures and charts: what the pages show, computed apart from the pages."""
