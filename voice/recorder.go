package voice

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/pion/opus"
)

// RecorderConfig says where and how much a Recorder keeps.
type RecorderConfig struct {
	// Dir, when set, receives one Ogg Opus file (<user>.opus) and one IVF file (<user>.ivf) per
	// user. It must exist.
	Dir string
	// MemoryLimit is how many bytes of media per user are also kept in memory for Audio,
	// VideoFrames and DecodePCM (default 8 MiB; negative keeps nothing). Past it, media still
	// goes to the files and Truncated reports it.
	MemoryLimit int
}

// Recorder is a MediaHandler that keeps each user's media: Opus packets and VP8 frames in files
// under Config.Dir and, up to a limit, in memory, where audio can be decoded to PCM on request.
// Media from an SSRC not yet mapped to a user is kept under "ssrc-<n>". Its methods are safe
// for concurrent use.
type Recorder struct {
	cfg   RecorderConfig
	mu    sync.Mutex
	users map[string]*userRecording
	err   error // the first file error
}

type userRecording struct {
	name      string
	ogg       *OggOpusWriter
	oggFile   *os.File
	ivf       *IVFWriter
	ivfFile   *os.File
	ivfCodec  VideoCodec
	firstTS   uint32
	audio     []recordedAudio
	video     [][]byte
	kept      int
	truncated bool
	lost      int
	keyframes int
}

type recordedAudio struct {
	opus       []byte
	lostBefore int
}

// NewRecorder returns a Recorder; it checks that Dir, when set, is a directory.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if cfg.Dir != "" {
		fi, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("voice: recorder: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("voice: recorder: %s is not a directory", cfg.Dir)
		}
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = 8 << 20
	}
	return &Recorder{cfg: cfg, users: make(map[string]*userRecording)}, nil
}

// recordingName is the user's key and file name: the user ID when it is a plain token (Discord
// IDs are digits), else a name from the SSRC, so a hostile ID cannot escape Dir.
func recordingName(userID string, ssrc uint32) string {
	if userID != "" && len(userID) <= 64 && !slices.ContainsFunc([]byte(userID), func(b byte) bool {
		return !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b == '-')
	}) {
		return userID
	}
	return "ssrc-" + strconv.FormatUint(uint64(ssrc), 10)
}

func (r *Recorder) user(userID string, ssrc uint32) *userRecording {
	name := recordingName(userID, ssrc)
	u := r.users[name]
	if u == nil {
		u = &userRecording{name: name}
		r.users[name] = u
	}
	return u
}

func (r *Recorder) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// keep stores a copy of b in memory while under the limit.
func (r *Recorder) keep(u *userRecording, n int) bool {
	if r.cfg.MemoryLimit < 0 || u.kept+n > r.cfg.MemoryLimit {
		u.truncated = true
		return false
	}
	u.kept += n
	return true
}

// HandleAudio records one Opus packet.
func (r *Recorder) HandleAudio(f *AudioFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.user(f.UserID, f.SSRC)
	u.lost += f.LostBefore
	if r.keep(u, len(f.Opus)) {
		u.audio = append(u.audio, recordedAudio{opus: slices.Clone(f.Opus), lostBefore: f.LostBefore})
	}
	if r.cfg.Dir == "" {
		return
	}
	if u.ogg == nil {
		file, err := os.Create(filepath.Join(r.cfg.Dir, u.name+".opus"))
		if err != nil {
			r.fail(err)
			return
		}
		w, err := NewOggOpusWriter(file, 2, f.SSRC)
		if err != nil {
			file.Close()
			r.fail(err)
			return
		}
		u.oggFile, u.ogg = file, w
	}
	if err := u.ogg.WritePacket(f.Opus); err != nil && !errors.Is(err, ErrBadOpusPacket) {
		r.fail(err)
	}
}

// HandleVideo records one video frame. The IVF file's time base is the RTP clock (1/90000 s),
// its timestamps counted from the user's first frame; its codec is the first frame's (FourCC
// VP80 or H264, which ffmpeg reads): frames of another codec, after the sender switched, are
// kept in memory only.
func (r *Recorder) HandleVideo(f *VideoFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.user(f.UserID, f.SSRC)
	if f.Keyframe {
		u.keyframes++
	}
	if r.keep(u, len(f.Frame)) {
		u.video = append(u.video, slices.Clone(f.Frame))
	}
	if r.cfg.Dir == "" {
		return
	}
	codec := f.Codec
	if codec == "" {
		codec = CodecVP8
	}
	if u.ivf == nil {
		h := IVFHeader{FourCC: "VP80", TimebaseDenominator: VideoClockRate, TimebaseNumerator: 1}
		if codec == CodecH264 {
			info, _ := ParseH264Frame(f.Frame)
			h.FourCC, h.Width, h.Height = "H264", info.Width, info.Height
		} else {
			info, _ := ParseVP8Frame(f.Frame)
			h.Width, h.Height = info.Width, info.Height
		}
		file, err := os.Create(filepath.Join(r.cfg.Dir, u.name+".ivf"))
		if err != nil {
			r.fail(err)
			return
		}
		u.ivfCodec = codec
		w, err := NewIVFWriter(file, h)
		if err != nil {
			file.Close()
			r.fail(err)
			return
		}
		u.ivfFile, u.ivf, u.firstTS = file, w, f.Timestamp
	}
	if codec != u.ivfCodec {
		return
	}
	if err := u.ivf.WriteFrame(f.Frame, uint64(f.Timestamp-u.firstTS)); err != nil {
		r.fail(err)
	}
}

// Users returns the names media was recorded under, sorted.
func (r *Recorder) Users() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.users))
	for n := range r.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Audio returns copies of a user's Opus packets in the order received.
func (r *Recorder) Audio(user string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return nil
	}
	out := make([][]byte, len(u.audio))
	for i, a := range u.audio {
		out[i] = slices.Clone(a.opus)
	}
	return out
}

// VideoFrames returns copies of a user's VP8 frames in the order received.
func (r *Recorder) VideoFrames(user string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return nil
	}
	out := make([][]byte, len(u.video))
	for i, f := range u.video {
		out[i] = slices.Clone(f)
	}
	return out
}

// Lost is how many of a user's audio packets were lost, as their sequence numbers showed.
func (r *Recorder) Lost(user string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[user]; u != nil {
		return u.lost
	}
	return 0
}

// Truncated reports whether a user's media exceeded MemoryLimit (the files are complete).
func (r *Recorder) Truncated(user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	return u != nil && u.truncated
}

// DecodePCM decodes a user's audio with pion/opus into 48 kHz mono 16-bit samples, filling
// lost packets with 20 ms of silence each.
func (r *Recorder) DecodePCM(user string) ([]int16, error) {
	r.mu.Lock()
	u := r.users[user]
	var audio []recordedAudio
	if u != nil {
		audio = slices.Clone(u.audio)
	}
	r.mu.Unlock()
	if u == nil {
		return nil, fmt.Errorf("voice: recorder: no audio from %q", user)
	}
	dec := opus.NewDecoder()
	frame := make([]int16, maxOpusPacketSamples)
	var pcm []int16
	for i, a := range audio {
		pcm = append(pcm, make([]int16, 960*a.lostBefore)...)
		n, err := dec.DecodeToInt16(a.opus, frame)
		if err != nil {
			return pcm, fmt.Errorf("voice: recorder: decode packet %d of %s: %w", i, user, err)
		}
		pcm = append(pcm, frame[:n]...)
	}
	return pcm, nil
}

// Files returns the paths of a user's Ogg Opus and IVF files ("" when none was written).
func (r *Recorder) Files(user string) (opusPath, ivfPath string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return "", ""
	}
	if u.oggFile != nil {
		opusPath = u.oggFile.Name()
	}
	if u.ivfFile != nil {
		ivfPath = u.ivfFile.Name()
	}
	return opusPath, ivfPath
}

// Close finishes and closes every file. It returns the first error met while recording or
// closing.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.users {
		if u.ogg != nil {
			if err := u.ogg.Close(); err != nil {
				r.fail(err)
			}
			if err := u.oggFile.Close(); err != nil {
				r.fail(err)
			}
		}
		if u.ivf != nil {
			if err := u.ivf.Close(); err != nil {
				r.fail(err)
			}
			if err := u.ivfFile.Close(); err != nil {
				r.fail(err)
			}
		}
	}
	return r.err
}

var _ MediaHandler = (*Recorder)(nil)
