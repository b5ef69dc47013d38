package mujoco

/*
#include "shim.h"
static int rd_stepn(rd_sim* s, int n) { for (int i = 0; i < n; i++) if (rd_step(s)) return -1; return 0; }
*/
import "C"

func (s *Sim) stepN(n int) { C.rd_stepn(s.c, C.int(n)) }
