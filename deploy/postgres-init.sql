-- Label Studio keeps its own database beside the annotator's (run once, on first start).
CREATE DATABASE labelstudio OWNER annotator;
