-- compose.yaml: the planner's own database beside Unleash's
CREATE DATABASE planner OWNER planner;
