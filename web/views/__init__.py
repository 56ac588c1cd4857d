"""The dashboard's blueprints, one per area."""
