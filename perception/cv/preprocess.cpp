#include "preprocess.h"

#include <opencv2/core.hpp>
#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <cstring>

static void set_err(char *err, int errlen, const char *msg) {
	if (errlen <= 0) return;
	std::snprintf(err, (size_t)errlen, "%s", msg);
}

// vert sums the source rows s, s+step, ... (8-bit) with 14-bit fixed-point weights given
// in packed pairs (NP pairs; 0: np at run time) into r (n values, as floats). On 128-bit
// SIMD each pair of rows is interleaved and multiplied-and-added in one instruction
// (pmaddwd on amd64) instead of converting every tap to float.
template <int NP>
static void vert(const uchar *s, size_t step, const int *pairs, int np_, int n, float *__restrict r) {
	const int np = NP > 0 ? NP : np_;
	int i = 0;
#if CV_SIMD128
	for (; i + 8 <= n; i += 8) {
		cv::v_int32x4 lo = cv::v_setzero_s32(), hi = cv::v_setzero_s32();
		for (int q = 0; q < np; q++) {
			const uchar *a = s + 2 * q * step + i;
			// an odd tap count ends with a zero weight: pair the last row with itself
			const uchar *b = (pairs[q] >> 16) != 0 ? a + step : a;
			const cv::v_int16x8 va = cv::v_reinterpret_as_s16(cv::v_load_expand(a));
			const cv::v_int16x8 vb = cv::v_reinterpret_as_s16(cv::v_load_expand(b));
			cv::v_int16x8 z0, z1;
			cv::v_zip(va, vb, z0, z1);
			const cv::v_int16x8 w = cv::v_reinterpret_as_s16(cv::v_setall_s32(pairs[q]));
			lo += cv::v_dotprod(z0, w);
			hi += cv::v_dotprod(z1, w);
		}
		cv::v_store(r + i, cv::v_cvt_f32(lo));
		cv::v_store(r + i + 4, cv::v_cvt_f32(hi));
	}
#endif
	for (; i < n; i++) {
		int acc = 0;
		for (int q = 0; q < np; q++) {
			const int w0 = (short)(pairs[q] & 0xffff), w1 = pairs[q] >> 16;
			acc += w0 * s[2 * q * step + i];
			if (w1 != 0) acc += w1 * s[(2 * q + 1) * step + i];
		}
		r[i] = (float)acc;
	}
}

#if CV_SIMD128
// horiz3 does the horizontal taps of one output row for 3 interleaved channels, four
// output pixels at a time: B G R _ accumulators, transposed into one vector per channel,
// mapped and stored straight into the planes. KX is the tap count (0: p->area_kx at run
// time); Swap reverses the channel order. Constant KX and Swap keep everything in registers.
template <int KX, bool Swap>
static void horiz3(const rd_pipe *p, const float *row, const int *x0, const float *xw, const float *xw4,
                   float *const out[3]) {
	const int ow = p->out_w, kx = KX > 0 ? KX : p->area_kx;
	const cv::v_float32x4 s0 = cv::v_setall_f32((float)p->scale[0]), o0 = cv::v_setall_f32((float)p->offset[0]);
	const cv::v_float32x4 s1 = cv::v_setall_f32((float)p->scale[1]), o1 = cv::v_setall_f32((float)p->offset[1]);
	const cv::v_float32x4 s2 = cv::v_setall_f32((float)p->scale[2]), o2 = cv::v_setall_f32((float)p->offset[2]);
	int ox = 0;
	for (; ox + 4 <= ow; ox += 4) {
		cv::v_float32x4 a[4];
		for (int q = 0; q < 4; q++) {
			const float *r = row + (size_t)x0[ox + q] * 3;
			const float *w4 = xw4 + (size_t)(ox + q) * kx * 4;
			cv::v_float32x4 acc = cv::v_load(r) * cv::v_load(w4);
			for (int j = 1; j < kx; j++) acc = cv::v_muladd(cv::v_load(r + 3 * j), cv::v_load(w4 + 4 * j), acc);
			a[q] = acc;
		}
		cv::v_float32x4 c0, c1, c2, c3;
		cv::v_transpose4x4(a[0], a[1], a[2], a[3], c0, c1, c2, c3);
		cv::v_store(out[0] + ox, cv::v_muladd(Swap ? c2 : c0, s0, o0));
		cv::v_store(out[1] + ox, cv::v_muladd(c1, s1, o1));
		cv::v_store(out[2] + ox, cv::v_muladd(Swap ? c0 : c2, s2, o2));
	}
	for (; ox < ow; ox++) {
		const float *r = row + (size_t)x0[ox] * 3;
		const float *wx = xw + (size_t)ox * kx;
		for (int c = 0; c < 3; c++) {
			const int sc = Swap ? 2 - c : c;
			float acc = 0.f;
			for (int j = 0; j < kx; j++) acc += wx[j] * r[3 * j + sc];
			out[c][ox] = acc * (float)p->scale[c] + (float)p->offset[c];
		}
	}
}
#endif

// area_run resamples the 8-bit image src (channels interleaved) by area and writes the
// affine-mapped planes into dst. Per output row: one vertical pass over the rows the
// footprint covers into a float row (the compiler vectorizes it), then per output pixel
// the horizontal taps, a whole pixel at a time for 3 channels (128-bit SIMD through
// OpenCV's universal intrinsics: SSE2 on amd64, NEON on arm64).
static void area_run(const rd_pipe *p, const cv::Mat &src, float *dst) {
	const int cn = p->channels, ow = p->out_w, oh = p->out_h, kx = p->area_kx, kyp = p->area_kyp;
	const int rowlen = src.cols * cn;
	const int *x0 = static_cast<cv::Mat *>(p->area_x0)->ptr<int>();
	const float *xw = static_cast<cv::Mat *>(p->area_xw)->ptr<float>();
	const float *xw4 = p->area_xw4 != nullptr ? static_cast<cv::Mat *>(p->area_xw4)->ptr<float>() : nullptr;
	const int *y0 = static_cast<cv::Mat *>(p->area_y0)->ptr<int>();
	const int *yn = static_cast<cv::Mat *>(p->area_yn)->ptr<int>();
	const int *yq = static_cast<cv::Mat *>(p->area_yq)->ptr<int>();
	float *row = static_cast<cv::Mat *>(p->area_row)->ptr<float>();
	const size_t plane = (size_t)ow * oh;
	float scale[4] = {0, 0, 0, 0}, offset[4] = {0, 0, 0, 0}; // per input channel
	for (int c = 0; c < cn; c++) {
		scale[p->src_channel[c]] = (float)p->scale[c];
		offset[p->src_channel[c]] = (float)p->offset[c];
	}

	for (int oy = 0; oy < oh; oy++) {
		// vertical: the footprint's rows
		const uchar *s = src.ptr<uchar>(y0[oy]);
		const int *pairs = yq + (size_t)oy * kyp;
		switch (yn[oy]) {
		case 1: vert<1>(s, src.step, pairs, 1, rowlen, row); break;
		case 2: vert<2>(s, src.step, pairs, 2, rowlen, row); break;
		case 3: vert<3>(s, src.step, pairs, 3, rowlen, row); break;
		default: vert<0>(s, src.step, pairs, yn[oy], rowlen, row); break;
		}

		// horizontal, affine, CHW (row is zero-padded past rowlen for the last taps)
		float *out[3];
		for (int c = 0; c < cn; c++) out[c] = dst + c * plane + (size_t)oy * ow;
#if CV_SIMD128
		if (cn == 3 && xw4 != nullptr) {
			const bool swap = p->src_channel[0] == 2;
			switch (kx * 2 + swap) {
			case 2 * 2: horiz3<2, false>(p, row, x0, xw, xw4, out); break;
			case 2 * 2 + 1: horiz3<2, true>(p, row, x0, xw, xw4, out); break;
			case 3 * 2: horiz3<3, false>(p, row, x0, xw, xw4, out); break;
			case 3 * 2 + 1: horiz3<3, true>(p, row, x0, xw, xw4, out); break;
			case 4 * 2: horiz3<4, false>(p, row, x0, xw, xw4, out); break;
			case 4 * 2 + 1: horiz3<4, true>(p, row, x0, xw, xw4, out); break;
			case 5 * 2: horiz3<5, false>(p, row, x0, xw, xw4, out); break;
			case 5 * 2 + 1: horiz3<5, true>(p, row, x0, xw, xw4, out); break;
			case 6 * 2: horiz3<6, false>(p, row, x0, xw, xw4, out); break;
			case 6 * 2 + 1: horiz3<6, true>(p, row, x0, xw, xw4, out); break;
			default:
				if (swap) horiz3<0, true>(p, row, x0, xw, xw4, out);
				else horiz3<0, false>(p, row, x0, xw, xw4, out);
				break;
			}
			continue;
		}
#endif
		for (int c = 0; c < cn; c++) {
			const int sc = p->src_channel[c];
			for (int ox = 0; ox < ow; ox++) {
				const float *r = row + (size_t)x0[ox] * cn + sc;
				const float *wx = xw + (size_t)ox * kx;
				float acc = 0.f;
				for (int j = 0; j < kx; j++) acc += wx[j] * r[j * cn];
				out[c][ox] = acc * scale[sc] + offset[sc];
			}
		}
	}
}

// run_pipe is rd_pipe_run without the exception barrier.
static int run_pipe(const rd_pipe *p, const void *src, float *dst, char *err, int errlen) {
	// The frame, borrowed for this call only.
	const cv::Mat in(p->in_h, p->in_w, p->in_type, const_cast<void *>(src));
	const cv::Rect crop(p->crop_x, p->crop_y, p->crop_w, p->crop_h);

	cv::Mat stage;
	if (p->map1 != nullptr) {
		// The maps are cut to the crop, so remap produces the cropped undistorted image
		// directly and never computes pixels the crop throws away.
		cv::Mat &und = *static_cast<cv::Mat *>(p->undistorted);
		cv::remap(in, und, *static_cast<cv::Mat *>(p->map1), *static_cast<cv::Mat *>(p->map2),
		          p->remap_interp, cv::BORDER_CONSTANT, cv::Scalar());
		stage = und;
	} else {
		stage = in(crop);  // a header on the frame's memory, no copy
	}
	if (p->area_xw != nullptr) {
		area_run(p, stage, dst);
		return 0;
	}
	if (p->resized != nullptr) {
		cv::Mat &rs = *static_cast<cv::Mat *>(p->resized);
		cv::resize(stage, rs, cv::Size(p->out_w, p->out_h), 0, 0, p->resize_interp);
		stage = rs;
	}

	const int plane = p->out_w * p->out_h;
	if (p->channels == 1) {
		cv::Mat out(p->out_h, p->out_w, CV_32FC1, dst);
		stage.convertTo(out, CV_32F, p->scale[0], p->offset[0]);
		if (p->patch_nan) cv::patchNaNs(out, p->offset[0]);
		if (out.data != reinterpret_cast<uchar *>(dst)) {
			set_err(err, errlen, "internal: output reallocated");
			return -1;
		}
		return 0;
	}

	// De-interleave once into the three planes (SIMD), then one scaled conversion per
	// output channel straight into the caller's tensor, in the configured order.
	cv::Mat &planes = *static_cast<cv::Mat *>(p->planes);
	cv::Mat mv[3] = {planes.rowRange(0, p->out_h), planes.rowRange(p->out_h, 2 * p->out_h),
	                 planes.rowRange(2 * p->out_h, 3 * p->out_h)};
	cv::split(stage, mv);
	for (int c = 0; c < 3; c++) {
		float *base = dst + (size_t)c * plane;
		cv::Mat out(p->out_h, p->out_w, CV_32FC1, base);
		mv[p->src_channel[c]].convertTo(out, CV_32F, p->scale[c], p->offset[c]);
		if (out.data != reinterpret_cast<uchar *>(base) || mv[c].data != planes.data + (size_t)c * plane) {
			set_err(err, errlen, "internal: buffer reallocated");
			return -1;
		}
	}
	return 0;
}

int rd_pipe_run(const rd_pipe *p, const void *src, float *dst, char *err, int errlen) {
	try {
		return run_pipe(p, src, dst, err, errlen);
	} catch (const cv::Exception &e) {
		set_err(err, errlen, e.what());
	} catch (const std::exception &e) {
		set_err(err, errlen, e.what());
	} catch (...) {
		set_err(err, errlen, "unknown C++ exception");
	}
	return -1;
}
