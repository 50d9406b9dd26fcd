/* unwind.c - record --stacks' own stack walker: the return addresses above an interposed call, the same list
 * libunwind's unw_backtrace gives (at most max, ending where libunwind's ends), in a few loads per frame instead of
 * libunwind's ~80 instructions per frame and ~200 per call.
 *
 * It walks standard x86-64 frames only: CFA = rsp or rbp + a constant, the return address at CFA - 8, rbp either
 * unchanged or reloaded from CFA + a constant, the caller's rsp = CFA (what libunwind's own fast trace handles).
 * The rule of each return address is learnt once, from libunwind itself: a frame is built from the live registers
 * at that address and stepped with unw_step, then stepped again with rsp, then rbp (when it points into the
 * stack), moved by 16 and by 40 bytes; the rule is kept only when all the results follow it (the CFA moves with
 * exactly one of the two registers, the return address and rbp come from where the rule says). Anything else
 * (signal frames, code without unwind info, unwind info using other registers, a step that fails) is remembered as
 * "other", and a walk that meets it returns -1: the caller then unwinds with unw_backtrace, as before. Where
 * unw_step ends the stack, the walk ends too. The rules live in the caller's table (one per thread buffer: no lock,
 * no sharing); the caller empties it when the loader reports new objects.
 * A walk may leave its trail (shim.h's tq_unwind_memo): its starting registers and the stack slots it read with their
 * values. tq_unwind_same checks a new start against it in two loads and compares per frame instead of a rule lookup,
 * and the caller reuses the stack id it gave (a loop allocating from one place walks once; a --stacks malloc storm:
 * 172 fewer instructions per malloc/free pair). The trail costs a few stores per frame: the caller stops leaving it
 * for a while when walks keep changing (stacks.c). */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim.h"

enum { RULE_STANDARD = 1, RULE_LAST, RULE_OTHER };
#define RBP_KEPT INT16_MIN        /* rbp_off: the caller's rbp is the callee's */
#define SHIFT_A 16                /* bytes rsp or rbp are moved by to tell which one the CFA follows, */
#define SHIFT_B 40                /* twice, so that a CFA read from memory cannot pass for one by chance */
#define MAX_FRAME_BYTES (1u << 28) /* a bigger step between two CFAs is taken for a broken rbp: unw_backtrace */
#define PROBES 8                  /* slots tried from an address's hash slot before one is overwritten */

/* What one unw_step from a frame built at (rip, rsp, rbp) gave. */
struct probe {
    int stepped;              /* unw_step's result: > 0 stepped, 0 the end of the stack, < 0 failed */
    uint64_t ip, sp, bp;      /* the caller's registers (sp = this frame's CFA) */
    int bp_in_memory;         /* the caller's rbp was read from memory at bp_addr (else it is the callee's) */
    uint64_t bp_addr;
};

static int probe(uint64_t rip, uint64_t rsp, uint64_t rbp, struct probe *out)
{
    memset(out, 0, sizeof *out);
    unw_context_t uc;
    unw_cursor_t c;
    if (unw_getcontext(&uc))
        return -1;
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)rip;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)rsp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)rbp;
    /* unw_init_local treats rip as a return address (it looks up rip - 1), as for every frame above the first */
    if (unw_init_local(&c, &uc) < 0)
        return -1;
    unw_proc_info_t pi;
    if (unw_get_proc_info(&c, &pi) < 0 || unw_is_signal_frame(&c) > 0)
        return -1; /* no unwind info (libunwind would guess from rbp), or a signal frame */
    out->stepped = unw_step(&c);
    if (out->stepped <= 0)
        return 0;
    unw_word_t ip, sp, bp;
    unw_save_loc_t loc;
    if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || unw_get_reg(&c, UNW_REG_SP, &sp) < 0 ||
        unw_get_reg(&c, UNW_X86_64_RBP, &bp) < 0 || unw_get_save_loc(&c, UNW_X86_64_RBP, &loc) < 0)
        return -1;
    out->ip = ip;
    out->sp = sp;
    out->bp = bp;
    if (loc.type == UNW_SLT_MEMORY && loc.u.addr != (unw_word_t)(uintptr_t)&uc.uc_mcontext.gregs[REG_RBP]) {
        out->bp_in_memory = 1;
        out->bp_addr = loc.u.addr;
    } else if (loc.type == UNW_SLT_REG) {
        return -1; /* rbp kept in another register */
    }
    return 0;
}

/* Whether p follows rule r from (rsp, rbp): the CFA, the return address at CFA - 8, rbp. */
static int follows(const struct tq_unwind_rule *r, const struct probe *p, uint64_t rsp, uint64_t rbp)
{
    uint64_t cfa = (r->cfa_rbp ? rbp : rsp) + (uint64_t)(int64_t)r->cfa_off;
    if (p->stepped <= 0 || p->sp != cfa || p->ip != *(const uint64_t *)(uintptr_t)(cfa - 8))
        return 0;
    if (r->rbp_off == RBP_KEPT)
        return !p->bp_in_memory && p->bp == rbp;
    return p->bp_in_memory && p->bp_addr == cfa + (uint64_t)(int64_t)r->rbp_off &&
           p->bp == *(const uint64_t *)(uintptr_t)p->bp_addr;
}

/* The rule of return address rip, learnt from libunwind with the frame's live rsp and rbp. */
static void learn(struct tq_unwind_rule *r, uint64_t rip, uint64_t rsp, uint64_t rbp)
{
    r->ip = rip - 1;
    r->kind = RULE_OTHER;
    struct probe base, sp_a, sp_b, bp_a, bp_b;
    if (probe(rip, rsp, rbp, &base) || base.stepped < 0)
        return;
    if (base.stepped == 0) {
        r->kind = RULE_LAST;
        return;
    }
    /* moved down (into the frames below, which are mapped): libunwind reads the moved frame's stack. rbp is moved
     * only when it points into the stack above rsp: otherwise it is not a frame pointer here (a CFA from it would
     * be far from rsp, and fail the checks below), and libunwind must not be sent to read around it. */
    int bp_in_stack = rbp > rsp && rbp - rsp <= MAX_FRAME_BYTES;
    if (probe(rip, rsp - SHIFT_A, rbp, &sp_a) || probe(rip, rsp - SHIFT_B, rbp, &sp_b))
        return;
    if (bp_in_stack) {
        if (probe(rip, rsp, rbp - SHIFT_A, &bp_a) || probe(rip, rsp, rbp - SHIFT_B, &bp_b))
            return;
    } else {
        bp_a = bp_b = base; /* as if moving rbp moved nothing */
    }
    int follows_sp = sp_a.sp == base.sp - SHIFT_A && sp_b.sp == base.sp - SHIFT_B;
    int follows_bp = bp_a.sp == base.sp - SHIFT_A && bp_b.sp == base.sp - SHIFT_B;
    if (follows_sp == follows_bp || (follows_sp ? bp_a.sp != base.sp || bp_b.sp != base.sp
                                                : sp_a.sp != base.sp || sp_b.sp != base.sp))
        return; /* the CFA follows both registers, neither, or something else as well */
    r->cfa_rbp = (uint8_t)follows_bp;
    int64_t cfa_off = (int64_t)(base.sp - (follows_bp ? rbp : rsp)), bp_off = 0;
    if (base.bp_in_memory)
        bp_off = (int64_t)(base.bp_addr - base.sp);
    if (cfa_off <= 0 || cfa_off > (int64_t)MAX_FRAME_BYTES || bp_off <= INT16_MIN || bp_off > INT16_MAX)
        return;
    r->cfa_off = (int32_t)cfa_off;
    r->rbp_off = base.bp_in_memory ? (int16_t)bp_off : RBP_KEPT;
    if (follows(r, &base, rsp, rbp) && follows(r, &sp_a, rsp - SHIFT_A, rbp) &&
        follows(r, &sp_b, rsp - SHIFT_B, rbp) &&
        (!bp_in_stack || (follows(r, &bp_a, rsp, rbp - SHIFT_A) && follows(r, &bp_b, rsp, rbp - SHIFT_B))))
        r->kind = RULE_STANDARD;
}

static unsigned rule_hash(uint64_t pc)
{
    return (unsigned)((pc * 0x9E3779B97F4A7C15ull) >> 40) & (TQ_UNWIND_RULES - 1);
}

/* rule_of's search past the first slot, and the learning: out of line, so that the walk keeps its registers. */
static __attribute__((noinline)) const struct tq_unwind_rule *rule_search(struct tq_unwind_rules *t, uint64_t rip,
                                                                         uint64_t rsp, uint64_t rbp)
{
    uint64_t pc = rip - 1;
    unsigned h = rule_hash(pc), free_slot = ~0u;
    for (unsigned i = 0; i < PROBES; i++) {
        struct tq_unwind_rule *r = &t->r[(h + i) & (TQ_UNWIND_RULES - 1)];
        if (r->ip == pc)
            return r;
        if (!r->kind) {
            free_slot = (h + i) & (TQ_UNWIND_RULES - 1);
            break;
        }
    }
    struct tq_unwind_rule *r = &t->r[free_slot != ~0u ? free_slot : h]; /* full: the first slot goes */
    memset(r, 0, sizeof *r);
    learn(r, rip, rsp, rbp);
    return r;
}

/* The rule of return address rip: usually in its hash slot. */
static inline __attribute__((always_inline)) const struct tq_unwind_rule *rule_of(struct tq_unwind_rules *t,
                                                                                  uint64_t rip, uint64_t rsp,
                                                                                  uint64_t rbp)
{
    const struct tq_unwind_rule *r = &t->r[rule_hash(rip - 1)];
    return r->ip == rip - 1 ? r : rule_search(t, rip, rsp, rbp);
}

/* The walk; with record, it leaves its trail in m. Where the caller's rbp came from (-1: the start; else the step
 * that read it from the stack) is followed, and a slot's rbp goes into the trail only when a CFA is computed from
 * it (the rest cannot change the walk: a register holding a loop counter there must not make each walk look new). */
static inline __attribute__((always_inline)) int walk(uint64_t rip, uint64_t rsp, uint64_t rbp, uint64_t *ips,
                                                      int max, struct tq_unwind_rules *t, struct tq_unwind_memo *m,
                                                      const int record)
{
    int n = 0, bp_from = -1, rbp_used = 0;
    uint64_t bp_at = 0;
    if (record) {
        m->rip = rip;
        m->rsp = rsp;
        m->rbp = rbp;
    }
    while (n < max && rip >= 0x4000) { /* a return address below 0x4000 ends the stack (as in libunwind) */
        ips[n++] = rip;
        const struct tq_unwind_rule *r = rule_of(t, rip, rsp, rbp);
        if (r->kind == RULE_LAST) {
            n = -n; /* the last frame: no step from it */
            break;
        }
        if (r->kind != RULE_STANDARD)
            return -1;
        if (record && r->cfa_rbp) {
            if (bp_from < 0) {
                rbp_used = 1;
            } else {
                m->step[bp_from].bp_at = bp_at;
                m->step[bp_from].bp = rbp;
            }
        }
        uint64_t cfa = (r->cfa_rbp ? rbp : rsp) + (uint64_t)(int64_t)r->cfa_off;
        if (cfa <= rsp || cfa - rsp > MAX_FRAME_BYTES) /* a broken rbp: the stack only grows up from here */
            return -1;
        rip = *(const uint64_t *)(uintptr_t)(cfa - 8);
        if (record) {
            m->step[n - 1].ret_at = cfa - 8;
            m->step[n - 1].ret = rip;
            m->step[n - 1].bp_at = 0;
        }
        if (r->rbp_off != RBP_KEPT) {
            bp_at = cfa + (uint64_t)(int64_t)r->rbp_off;
            rbp = *(const uint64_t *)(uintptr_t)bp_at;
            bp_from = n - 1;
        }
        rsp = cfa;
    }
    int frames = n < 0 ? -n : n;
    if (record) {
        m->steps = (uint32_t)(n < 0 ? frames - 1 : frames);
        m->rbp_used = rbp_used;
    }
    return frames;
}

int tq_unwind(uint64_t rip, uint64_t rsp, uint64_t rbp, uint64_t *ips, int max, struct tq_unwind_rules *t,
              struct tq_unwind_memo *m)
{
    if (!m)
        return walk(rip, rsp, rbp, ips, max, t, NULL, 0);
    m->id = 0;
    return walk(rip, rsp, rbp, ips, max, t, m, 1);
}
