#!/bin/bash
# The link-time check of quiver_wrap() (cmake/quiver_wrap.cmake run with -P)
# on objects made here: dsp.c compiled with -flto must be refused, and so
# must a target where no file but fir's own calls fir (dsp.o alone).
# usage: object.sh CC NM OBJDUMP CMAKE SOURCE_DIR WORK_DIR
set -u
cc=$1 nm=$2 objdump=$3 cmake=$4 src=$5 work=$6
mkdir -p "$work"
app=$src/tests/wrap/app
"$cc" -std=c11 -O2 -flto -c "$app/dsp.c" -o "$work/dsp.o" || exit 1
"$cc" -std=c11 -O2 -c "$app/main.c" -o "$work/main.o" || exit 1
"$cmake" -DQUIVER_WRAP_CHECK=1 -DTARGET=app -DFUNCTIONS=fir "-DOBJECTS=$work/main.o|$work/dsp.o" \
    "-DNM=$nm" "-DOBJDUMP=$objdump" -P "$src/cmake/quiver_wrap.cmake"
"$cc" -std=c11 -O2 -c "$app/dsp.c" -o "$work/dsp.o" || exit 1
"$cmake" -DQUIVER_WRAP_CHECK=1 -DTARGET=app -DFUNCTIONS=fir "-DOBJECTS=$work/dsp.o" \
    "-DNM=$nm" "-DOBJDUMP=$objdump" -P "$src/cmake/quiver_wrap.cmake"
exit 0
