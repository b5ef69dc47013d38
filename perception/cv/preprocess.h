// preprocess.h: the per-frame hot path of perception/cv's Pipeline, one cgo call per frame.
// Every buffer it writes is a cv::Mat allocated once by the Go side through gocv (passed as
// void* to a cv::Mat), or memory the caller lends for the duration of the call (the frame's
// pixels, the output tensor); nothing is allocated per frame and no pointer is kept.
#ifndef ROBOTD_PREPROCESS_H
#define ROBOTD_PREPROCESS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	int in_w, in_h, in_type;         // the frame: size and OpenCV type (CV_8UC3, CV_8UC1, CV_16UC1, CV_32FC1)
	int crop_x, crop_y, crop_w, crop_h;
	void *map1, *map2;               // undistort maps cut to the crop rectangle, or NULL
	int remap_interp;
	void *undistorted;               // crop_h x crop_w, in_type: the remap output (when map1 is set)
	void *resized;                   // out_h x out_w, in_type, or NULL when the size is kept
	int out_w, out_h, resize_interp;
	void *planes;                    // (3*out_h) x out_w CV_8U: the split channels (3-channel input only)
	// Area downsampling of 8-bit images, fused with the channel order, the affine and the CHW
	// write (used instead of resized/planes when area_xw is set). Output pixel (x, y), before
	// the affine, is sum_j area_xw[x*area_kx+j] * V(area_x0[x]+j, y), where the vertical sum
	// V(x, y) = sum_k wq_k * crop(x, area_y0[y]+k) with 14-bit fixed-point weights wq_k packed in
	// pairs (low 16 bits: even tap) in area_yq[y*area_kyp .. +area_yn[y]].
	void *area_x0, *area_xw;         // CV_32S 1 x out_w; CV_32F 1 x out_w*area_kx
	void *area_xw4;                  // 3 channels: area_xw with every weight repeated 4 times (SIMD lanes)
	void *area_y0, *area_yn, *area_yq; // CV_32S 1 x out_h; CV_32S 1 x out_h; CV_32S 1 x out_h*area_kyp
	int area_kx, area_kyp;
	void *area_row;                  // CV_32F: one vertically resampled row, zero-padded
	int channels;                    // 1 or 3
	int src_channel[3];              // output channel c comes from input channel src_channel[c]
	double scale[3], offset[3];      // out = in*scale + offset, per output channel
	int patch_nan;                   // replace NaN samples by offset[0] (depth32f: 0 m = no reading)
} rd_pipe;

// rd_pipe_run writes the channels x out_h x out_w float32 tensor of the frame src into dst.
// It returns 0, or -1 with a message in err (errlen bytes, NUL-terminated).
int rd_pipe_run(const rd_pipe *p, const void *src, float *dst, char *err, int errlen);

#ifdef __cplusplus
}
#endif

#endif
