"""Files of MindPulse (model artifacts, references, reports, archives) through Django storages.

`files` is what the apps call; `local` is the default backend (a folder named by a setting),
`postgres` the backend that needs no service beyond the database (content-addressed blobs).
"""
