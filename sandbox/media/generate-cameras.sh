#!/usr/bin/env bash
# Generates the sandbox's camera clips, camera-<username>.ivf: 4 s of ffmpeg's moving test
# pattern at 320x240, 30 fps, with the user's name and a frame counter drawn on it, encoded by
# libvpx as a real-time VP8 stream (keyframe every 30 frames, no alternate reference frames,
# which a live camera never sends), 240 kbit/s, in IVF. The output is the same byte for byte on
# every run with the same ffmpeg (Debian bookworm's 5.1); the files are committed.
#
# Usage: sandbox/media/generate-cameras.sh   (needs ffmpeg and fonts-dejavu-core)
set -euo pipefail
cd "$(dirname "$0")"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
for user in alice:Alice bob:Bob carol:Carol dana:Dana eli:Eli fay:Fay; do
	name=${user#*:}
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=320x240:rate=30:duration=4" \
		-vf "drawtext=fontfile=$font:text='$name':fontsize=36:fontcolor=white:box=1:boxcolor=black@0.6:x=12:y=12,drawtext=fontfile=$font:text='frame %{frame_num}':fontsize=24:fontcolor=white:box=1:boxcolor=black@0.6:x=12:y=h-40" \
		-c:v libvpx -b:v 240k -g 30 -keyint_min 30 -deadline realtime -cpu-used 8 -threads 1 \
		-auto-alt-ref 0 -lag-in-frames 0 -f ivf "camera-${user%%:*}.ivf"
done
