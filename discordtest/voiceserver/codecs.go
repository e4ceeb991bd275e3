package voiceserver

import (
	"strings"

	"github.com/spellcoven/gateway/voice"
)

// Video codecs by the names op 1 gives them. Discord's voice server forwards a member's video in
// the codec the member sends, under the payload type each receiver announced for it in op 1;
// a receiver that did not announce the codec gets none of it (counted in VideoWithheld).
const (
	codecVP8  = "VP8"
	codecH264 = "H264"
)

// defaultVideoPTs are the payload types of a client that sent no codec list.
var defaultVideoPTs = map[string]uint8{codecVP8: voice.PayloadTypeVP8, codecH264: voice.PayloadTypeH264}

// selectedCodec is one entry of op 1's codecs.
type selectedCodec struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	PayloadType int    `json:"payload_type"`
}

// videoPTs maps the video codecs of an op 1 codec list to their payload types.
func videoPTs(list []selectedCodec) map[string]uint8 {
	if len(list) == 0 {
		return defaultVideoPTs
	}
	out := map[string]uint8{}
	for _, c := range list {
		if c.Type == "video" && c.PayloadType > 0 && c.PayloadType < 128 {
			out[strings.ToUpper(c.Name)] = uint8(c.PayloadType)
		}
	}
	return out
}

// videoCodecOfPT names the codec of a video payload type in a session's list ("" if none).
func videoCodecOfPT(pts map[string]uint8, pt uint8) string {
	for name, p := range pts {
		if p == pt {
			return name
		}
	}
	return ""
}

// isH264Clip reports whether a camera clip's frames are H.264 (Annex B) rather than VP8.
func isH264Clip(frames [][]byte) bool {
	if len(frames) == 0 {
		return false
	}
	f := frames[0]
	return len(f) >= 4 && f[0] == 0 && f[1] == 0 && (f[2] == 1 || (f[2] == 0 && f[3] == 1))
}

// clipKeyframe reports whether a clip's frame is a keyframe (VP8 P bit clear, or an H.264 IDR).
func clipKeyframe(codec string, f []byte) bool {
	if codec == codecH264 {
		info, err := voice.ParseH264Frame(f)
		return err == nil && info.Keyframe
	}
	return len(f) > 0 && f[0]&1 == 0
}
