#!/usr/bin/env bash
# Generates the sandbox's camera clips: 4 s of ffmpeg's moving test pattern at 320x240, 30 fps,
# with the user's name and a frame counter drawn on it, 240 kbit/s, a keyframe every 30 frames.
# Most users get camera-<username>.ivf, VP8 from libvpx as a real-time stream (no alternate
# reference frames, which a live camera never sends). Fay gets camera-fay.h264 instead, H.264
# from libx264 as WebRTC sends it: constrained baseline, no B frames (zerolatency), SPS and PPS
# before every IDR, no SEI, as a raw Annex B stream (sent with packetization-mode 1). The output
# is the same byte for byte on every run with the same ffmpeg and codec libraries (Debian
# bookworm's); the files are committed.
#
# Usage: sandbox/media/generate-cameras.sh   (needs ffmpeg and fonts-dejavu-core)
set -euo pipefail
cd "$(dirname "$0")"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
h264_users="fay"
for user in alice:Alice bob:Bob carol:Carol dana:Dana eli:Eli fay:Fay; do
	id=${user%%:*}
	name=${user#*:}
	src=(-f lavfi -i "testsrc2=size=320x240:rate=30:duration=4"
		-vf "drawtext=fontfile=$font:text='$name':fontsize=36:fontcolor=white:box=1:boxcolor=black@0.6:x=12:y=12,drawtext=fontfile=$font:text='frame %{frame_num}':fontsize=24:fontcolor=white:box=1:boxcolor=black@0.6:x=12:y=h-40")
	if [[ " $h264_users " == *" $id "* ]]; then
		rm -f "camera-$id.ivf"
		ffmpeg -hide_banner -loglevel error -y "${src[@]}" \
			-c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency -b:v 240k -maxrate 240k -bufsize 240k \
			-g 30 -keyint_min 30 -sc_threshold 0 -threads 1 -x264-params repeat-headers=1 \
			-bsf:v filter_units=remove_types=6 -f h264 "camera-$id.h264"
	else
		rm -f "camera-$id.h264"
		ffmpeg -hide_banner -loglevel error -y "${src[@]}" \
			-c:v libvpx -b:v 240k -g 30 -keyint_min 30 -deadline realtime -cpu-used 8 -threads 1 \
			-auto-alt-ref 0 -lag-in-frames 0 -f ivf "camera-$id.ivf"
	fi
done
