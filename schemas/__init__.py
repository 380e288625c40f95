"""Records and files that cross a boundary: rule presets, Arrow schemas, the manifest schema."""
import os

SCHEMAS_DIR = os.path.dirname(os.path.abspath(__file__))
RULES_DIR = os.path.join(SCHEMAS_DIR, "rules")
