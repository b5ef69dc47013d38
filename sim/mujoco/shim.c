// C side of package mujoco; see shim.h.

#include "shim.h"

#include <GL/osmesa.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//------------------------------ error and warning handling ---------------------------------------

// rd_jmp is the jump target of the guarded call running on this thread, or NULL.
static _Thread_local sigjmp_buf* rd_jmp;
// rd_msg holds the message of the last mju_error on this thread.
static _Thread_local char rd_msg[RD_ERRSZ];

static pthread_mutex_t rd_warn_mu = PTHREAD_MUTEX_INITIALIZER;
static char rd_warn_msg[RD_ERRSZ];
static uint64_t rd_warn_count;

static void rd_copy(char* dst, const char* src, int n) {
  if (!dst || n <= 0) {
    return;
  }
  if (!src) {
    src = "";
  }
  snprintf(dst, (size_t)n, "%s", src);
}

// rd_error_handler is mju_user_error. MuJoCo must not continue after it, so it jumps back to the
// guarded wrapper that made the call. Without a guard there is nowhere safe to go: abort with
// the message rather than let MuJoCo run on in a broken state (or wait for Enter on stdin).
static void rd_error_handler(const char* msg) {
  sigjmp_buf* jb = rd_jmp;
  if (jb) {
    rd_copy(rd_msg, msg, RD_ERRSZ);  // msg may live in the frame we are about to unwind
    rd_jmp = NULL;
    siglongjmp(*jb, 1);
  }
  fprintf(stderr, "robotd/sim/mujoco: MuJoCo error outside a guarded call: %s\n", msg);
  abort();
}

// rd_warning_handler is mju_user_warning: count and keep the last message, print nothing.
static void rd_warning_handler(const char* msg) {
  pthread_mutex_lock(&rd_warn_mu);
  rd_copy(rd_warn_msg, msg, RD_ERRSZ);
  rd_warn_count++;
  pthread_mutex_unlock(&rd_warn_mu);
}

int rd_init(void) {
  mju_user_error = rd_error_handler;
  mju_user_warning = rd_warning_handler;
  return mj_version();
}

int rd_header_version(void) { return mjVERSION_HEADER; }

uint64_t rd_warning_count(void) {
  pthread_mutex_lock(&rd_warn_mu);
  uint64_t n = rd_warn_count;
  pthread_mutex_unlock(&rd_warn_mu);
  return n;
}

void rd_last_warning(char* buf, int n) {
  pthread_mutex_lock(&rd_warn_mu);
  rd_copy(buf, rd_warn_msg, n);
  pthread_mutex_unlock(&rd_warn_mu);
}

// RD_GUARD arms the error handler's jump target for the rest of the calling function. On an
// mju_error it copies the message to errbuf, runs onerr and returns -1 from the caller.
// Locals assigned after RD_GUARD must not be read in onerr (setjmp rules) unless volatile.
#define RD_GUARD(errbuf, onerr)          \
  sigjmp_buf rd_jb_;                     \
  if (sigsetjmp(rd_jb_, 0)) {            \
    rd_copy((errbuf), rd_msg, RD_ERRSZ); \
    onerr;                               \
    return -1;                           \
  }                                      \
  rd_jmp = &rd_jb_

#define RD_UNGUARD() rd_jmp = NULL

//------------------------------ simulation -------------------------------------------------------

void rd_free(rd_sim* s) {
  if (!s) {
    return;
  }
  mj_deleteData(s->d);
  mj_deleteModel(s->m);
  free(s->save_qvel);
  free(s->save_cvel);
  free(s);
}

static rd_sim* rd_load_guarded(const char* path, char* err, int errsz, char* warn, int warnsz,
                               rd_sim* volatile* out) {
  char buf[RD_ERRSZ];
  rd_sim* s = calloc(1, sizeof(rd_sim));
  if (!s) {
    rd_copy(err, "out of memory", errsz);
    return NULL;
  }
  *out = s;
  buf[0] = 0;
  s->m = mj_loadXML(path, NULL, buf, sizeof(buf));
  if (!s->m) {
    rd_copy(err, buf[0] ? buf : "mj_loadXML failed without a message", errsz);
    return NULL;
  }
  rd_copy(warn, buf, warnsz);
  s->d = mj_makeData(s->m);
  int nv = s->m->nv > 0 ? s->m->nv : 1;
  s->save_qvel = malloc(sizeof(mjtNum) * (size_t)nv);
  s->save_cvel = malloc(sizeof(mjtNum) * 6 * (size_t)s->m->nbody);
  if (!s->d || !s->save_qvel || !s->save_cvel) {
    rd_copy(err, "out of memory for mjData", errsz);
    return NULL;
  }
  return s;
}

rd_sim* rd_load(const char* path, char* err, int errsz, char* warn, int warnsz) {
  rd_sim* volatile s = NULL;
  rd_copy(err, "", errsz);
  rd_copy(warn, "", warnsz);
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0)) {
    rd_copy(err, rd_msg, errsz);
    rd_free(s);
    return NULL;
  }
  rd_jmp = &jb;
  rd_sim* got = rd_load_guarded(path, err, errsz, warn, warnsz, &s);
  RD_UNGUARD();
  if (!got) {
    rd_free(s);
  }
  return got;
}

// rd_recover undoes what an interrupted MuJoCo call can leave behind: every top-level call
// starts and ends with an empty mjData stack.
static void rd_recover(rd_sim* s) { s->d->pstack = 0; }

int rd_step(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_step(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_step_n(rd_sim* s, int n) {
  RD_GUARD(s->err, rd_recover(s));
  for (int i = 0; i < n; i++) {
    mj_step(s->m, s->d);
  }
  RD_UNGUARD();
  return 0;
}

int rd_step1(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_step1(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_step2(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_step2(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_forward(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_forward(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_reset(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_resetData(s->m, s->d);
  mj_forward(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_reset_key(rd_sim* s, int key) {
  RD_GUARD(s->err, rd_recover(s));
  mj_resetDataKeyframe(s->m, s->d, key);
  mj_forward(s->m, s->d);
  RD_UNGUARD();
  return 0;
}

int rd_kinematics(rd_sim* s) {
  RD_GUARD(s->err, rd_recover(s));
  mj_kinematics(s->m, s->d);
  mj_comPos(s->m, s->d);
  mj_camlight(s->m, s->d);  // camera poses: mj_kinematics leaves cam_xpos/cam_xmat alone
  RD_UNGUARD();
  return 0;
}

// rd_gravity writes the gravity part of qfrc_bias to dst. mj_rne with flg_acc=0 computes
// cinert*(cdof_dot*qvel - g) + cvel x cinert*cvel per body; with qvel and cvel zeroed only the
// gravity term is left. Both are restored, so mjData is unchanged on return.
int rd_gravity(rd_sim* s, double* dst) {
  const mjModel* m = s->m;
  mjData* d = s->d;
  mju_copy(s->save_qvel, d->qvel, m->nv);
  mju_copy(s->save_cvel, d->cvel, 6 * m->nbody);
  mju_zero(d->qvel, m->nv);
  mju_zero(d->cvel, 6 * m->nbody);
  RD_GUARD(s->err, {
    mju_copy(d->qvel, s->save_qvel, m->nv);
    mju_copy(d->cvel, s->save_cvel, 6 * m->nbody);
    rd_recover(s);
  });
  mj_rne(m, d, 0, dst);
  RD_UNGUARD();
  mju_copy(d->qvel, s->save_qvel, m->nv);
  mju_copy(d->cvel, s->save_cvel, 6 * m->nbody);
  return 0;
}

int rd_advance(rd_sim* s, int n, double* gravity) {
  RD_GUARD(s->err, rd_recover(s));
  for (int i = 0; i < n; i++) {
    mj_step2(s->m, s->d);
    mj_step1(s->m, s->d);
  }
  RD_UNGUARD();
  return gravity ? rd_gravity(s, gravity) : 0;
}

void rd_jac_site(rd_sim* s, int site, double* jacp, double* jacr) {
  mj_jacSite(s->m, s->d, jacp, jacr, site);
}

int rd_test_error(rd_sim* s, const char* msg) {
  RD_GUARD(s->err, (void)0);
  mju_error(msg);
  RD_UNGUARD();
  return 0;
}

//------------------------------ rendering --------------------------------------------------------

struct rd_renderer {
  OSMesaContext ctx;
  unsigned char glbuf[16];  // 1x1 RGBA default framebuffer; MuJoCo draws into its own FBO
  int width, height;
  int scn_made;
  mjvScene scn;
  mjvOption opt;
  mjvCamera cam;
  mjvPerturb pert;
  mjrContext con;
  unsigned char* rgb;  // bottom-up scratch, width*height*3
  float* depth;        // bottom-up scratch, width*height
  char err[RD_ERRSZ];
};

static void rd_render_release(rd_renderer* r) {
  if (r->ctx) {
    mjr_freeContext(&r->con);
  }
  if (r->scn_made) {
    mjv_freeScene(&r->scn);
    r->scn_made = 0;
  }
  if (r->ctx) {
    OSMesaMakeCurrent(NULL, NULL, 0, 0, 0);
    OSMesaDestroyContext(r->ctx);
    r->ctx = NULL;
  }
}

void rd_render_free(rd_renderer* r) {
  if (!r) {
    return;
  }
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0) == 0) {
    rd_jmp = &jb;
    rd_render_release(r);
  }
  RD_UNGUARD();
  free(r->rgb);
  free(r->depth);
  free(r);
}

static int rd_render_init(rd_renderer* r, const mjModel* m) {
  r->ctx = OSMesaCreateContextExt(OSMESA_RGBA, 24, 8, 0, NULL);
  if (!r->ctx) {
    rd_copy(r->err, "OSMesaCreateContextExt(OSMESA_RGBA, 24, 8, 0) failed", RD_ERRSZ);
    return -1;
  }
  if (!OSMesaMakeCurrent(r->ctx, r->glbuf, GL_UNSIGNED_BYTE, 1, 1)) {
    rd_copy(r->err, "OSMesaMakeCurrent failed", RD_ERRSZ);
    return -1;
  }
  size_t n = (size_t)r->width * (size_t)r->height;
  r->rgb = malloc(3 * n);
  r->depth = malloc(sizeof(float) * n);
  if (!r->rgb || !r->depth) {
    rd_copy(r->err, "out of memory for pixel buffers", RD_ERRSZ);
    return -1;
  }

  RD_GUARD(r->err, (void)0);
  mjv_defaultScene(&r->scn);
  mjv_defaultOption(&r->opt);
  mjv_defaultCamera(&r->cam);
  mjv_defaultPerturb(&r->pert);
  mjr_defaultContext(&r->con);
  for (int i = 0; i < mjNGROUP; i++) {
    r->opt.sitegroup[i] = 0;  // sites are markers for code, not part of what a camera sees
  }
  mjv_makeScene(m, &r->scn, m->ngeom + m->nsite + 1000);
  r->scn_made = 1;
  mjr_makeContext(m, &r->con, mjFONTSCALE_50);
  mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
  RD_UNGUARD();
  if (r->con.currentBuffer != mjFB_OFFSCREEN) {
    rd_copy(r->err, "MuJoCo has no offscreen framebuffer in this GL context", RD_ERRSZ);
    return -1;
  }
  return 0;
}

rd_renderer* rd_render_new(const mjModel* m, int width, int height, char* err, int errsz) {
  rd_renderer* r = calloc(1, sizeof(rd_renderer));
  if (!r) {
    rd_copy(err, "out of memory", errsz);
    return NULL;
  }
  r->width = width;
  r->height = height;
  if (rd_render_init(r, m) != 0) {
    rd_copy(err, r->err, errsz);
    rd_render_free(r);
    return NULL;
  }
  return r;
}

const char* rd_render_err(rd_renderer* r) { return r->err; }

// rd_render draws fixed camera `camera` and reads the pixels into rgb (width*height*3, rows top
// to bottom) and depth (width*height metres, rows top to bottom); either may be NULL.
int rd_render(rd_renderer* r, const mjModel* m, mjData* d, int camera, unsigned char* rgb,
              float* depth) {
  const int w = r->width, h = r->height;
  mjrRect vp = {0, 0, w, h};
  RD_GUARD(r->err, (void)0);
  r->cam.type = mjCAMERA_FIXED;
  r->cam.fixedcamid = camera;
  mjv_updateScene(m, d, &r->opt, &r->pert, &r->cam, mjCAT_ALL, &r->scn);
  mjr_render(vp, &r->scn, &r->con);
  mjr_readPixels(rgb ? r->rgb : NULL, depth ? r->depth : NULL, vp, &r->con);
  RD_UNGUARD();

  // OpenGL rows run bottom-up; callers get images top-down.
  if (rgb) {
    const size_t row = 3 * (size_t)w;
    for (int y = 0; y < h; y++) {
      memcpy(rgb + (size_t)y * row, r->rgb + (size_t)(h - 1 - y) * row, row);
    }
  }
  if (depth) {
    // Undo the perspective depth mapping: z in [0,1] -> distance along the view axis.
    const double extent = m->stat.extent;
    const double znear = m->vis.map.znear * extent;
    const double zfar = m->vis.map.zfar * extent;
    const double k = 1.0 - znear / zfar;
    for (int y = 0; y < h; y++) {
      const float* src = r->depth + (size_t)(h - 1 - y) * (size_t)w;
      float* dst = depth + (size_t)y * (size_t)w;
      for (int x = 0; x < w; x++) {
        dst[x] = (float)(znear / (1.0 - (double)src[x] * k));
      }
    }
  }
  return 0;
}
