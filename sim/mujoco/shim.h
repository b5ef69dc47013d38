// C side of package mujoco: MuJoCo error/warning handling and the wrappers that Go calls.
//
// Every wrapper that can reach mju_error guards the MuJoCo call with sigsetjmp in the same C
// function, so the error handler's siglongjmp never crosses a Go frame. A wrapper returns -1 on
// error and leaves MuJoCo's message in its object's err buffer.

#ifndef ROBOTD_SIM_MUJOCO_SHIM_H_
#define ROBOTD_SIM_MUJOCO_SHIM_H_

#include <stdint.h>

#include <mujoco/mujoco.h>

#define RD_ERRSZ 1024

// rd_sim owns one mjModel and one mjData plus scratch space for rd_gravity.
typedef struct rd_sim {
  mjModel* m;
  mjData* d;
  mjtNum* save_qvel;  // nv: qvel saved by rd_gravity
  mjtNum* save_cvel;  // 6*nbody: cvel saved by rd_gravity
  char err[RD_ERRSZ];  // message of the last failed call
} rd_sim;

// rd_init installs the process-wide MuJoCo error and warning handlers. It returns mj_version().
int rd_init(void);

// rd_header_version is mjVERSION_HEADER of the headers this package was compiled against.
int rd_header_version(void);

// rd_load compiles an MJCF/URDF file and makes its mjData. On failure it returns NULL and writes
// MuJoCo's message to err. On success warn holds any compiler warning (else "").
rd_sim* rd_load(const char* path, char* err, int errsz, char* warn, int warnsz);
void rd_free(rd_sim* s);

int rd_step(rd_sim* s);
int rd_step_n(rd_sim* s, int n);
int rd_advance(rd_sim* s, int n, double* gravity);
int rd_step1(rd_sim* s);
int rd_step2(rd_sim* s);
int rd_forward(rd_sim* s);
int rd_reset(rd_sim* s);
int rd_reset_key(rd_sim* s, int key);
int rd_kinematics(rd_sim* s);
int rd_gravity(rd_sim* s, double* dst);
void rd_jac_site(rd_sim* s, int site, double* jacp, double* jacr);

// Process-wide count of runtime warnings and the latest one's text.
uint64_t rd_warning_count(void);
void rd_last_warning(char* buf, int n);

// rd_test_error calls mju_error under the same guard as the other wrappers (tests only).
int rd_test_error(rd_sim* s, const char* msg);

// Offscreen renderer. All rd_render_* calls must come from the OS thread that called
// rd_render_new: the OSMesa context is current on that thread only.
typedef struct rd_renderer rd_renderer;
rd_renderer* rd_render_new(const mjModel* m, int width, int height, char* err, int errsz);
int rd_render(rd_renderer* r, const mjModel* m, mjData* d, int camera, unsigned char* rgb,
              float* depth);
const char* rd_render_err(rd_renderer* r);
void rd_render_free(rd_renderer* r);

#endif  // ROBOTD_SIM_MUJOCO_SHIM_H_
