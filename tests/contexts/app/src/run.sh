#!/bin/sh
echo "app $APP_VERSION $*"
