"""URL paths of the Unleash 8.2 admin API, relative to the server root, as format templates.

Placeholders are filled by ``flags.admin`` with URL-quoted values. The paths come from the
server's OpenAPI document (shared/reference/unleash-8.2.0-openapi.json).
"""

HEALTH = "/health"
UI_CONFIG = "/api/admin/ui-config"

PROJECT_OVERVIEW = "/api/admin/projects/{project}/overview"
PROJECT_FEATURES = "/api/admin/projects/{project}/features"
FEATURE = "/api/admin/projects/{project}/features/{feature}"
# Project-scoped revive: POST {"features": [...]}; part of Unleash OSS.
PROJECT_REVIVE = "/api/admin/projects/{project}/revive"
# Permanently delete archived flags: POST {"features": [...]}.
PROJECT_DELETE_FEATURES = "/api/admin/projects/{project}/delete"
# Archived flags are listed through search (8.x has no archive listing endpoint).
FEATURE_SEARCH = "/api/admin/search/features"

FEATURE_ENVIRONMENT_ON = "/api/admin/projects/{project}/features/{feature}/environments/{environment}/on"
FEATURE_ENVIRONMENT_OFF = "/api/admin/projects/{project}/features/{feature}/environments/{environment}/off"
STRATEGIES = "/api/admin/projects/{project}/features/{feature}/environments/{environment}/strategies"
STRATEGY = STRATEGIES + "/{strategy_id}"

SEGMENTS = "/api/admin/segments"
SEGMENT = "/api/admin/segments/{segment_id}"
