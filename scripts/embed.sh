#!/bin/sh
# embed.sh NAME FILE: FILE's bytes as the C array NAME (NUL-terminated) and
# its length NAME_len, so the daemon serves the page from memory.
set -eu
name=$1
file=$2
echo "/* Generated from $file by scripts/embed.sh: do not edit. */"
echo "#include <stddef.h>"
echo "extern const char ${name}[];"
echo "extern const size_t ${name}_len;"
echo "const char ${name}[] = {"
od -An -v -tx1 "$file" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
echo "0 };"
echo "const size_t ${name}_len = sizeof(${name}) - 1;"
