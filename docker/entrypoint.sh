#!/bin/sh
# Container entrypoint: `specvlm serve`, configured by SPECVLM_* environment variables.
#   (no arguments)          specvlm serve
#   --flag value ...        specvlm serve --flag value ...   (flags win over SPECVLM_* variables)
#   serve|bench|... ARGS    specvlm serve|bench|... ARGS
#   anything else           run as is, e.g. `bash` or `python -c ...`
set -e
case "${1:-}" in
    "" | -*) exec specvlm serve "$@" ;;
    serve | bench | bench-serve | make-tiny) exec specvlm "$@" ;;
    *) exec "$@" ;;
esac
