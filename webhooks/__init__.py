"""The Flask layer: staff pages, REST API, public intake, webhooks. Calls only ``engine``."""
