/*
 * A QEMU TCG plugin that counts executed instructions per guest address,
 * for profile.sh. Written against QEMU's plugin API version 1 (QEMU 7.2,
 * Debian 12), whose functions it declares itself: Debian ships no
 * qemu-plugin.h. It counts the 8 MiB of code from base=ADDRESS (default
 * 0; the M33's flash is at 0x10000000) and at exit writes "ADDRESS COUNT"
 * lines (hex, decimal) for every address that ran, to out=PATH.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*atexit_cb)(qemu_plugin_id_t, void *);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, atexit_cb, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
/* op 0 is QEMU_PLUGIN_INLINE_ADD_U64: *ptr += imm, inline in the TB. */
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, int op, void *ptr,
                                                uint64_t imm);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define RANGE (1u << 23)
static uint64_t *counts;
static uint64_t base;
static const char *out = "pcprof.out";

static void translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t a = qemu_plugin_insn_vaddr(insn) - base;
        if (a < RANGE) /* Thumb: 2-byte granules */
            qemu_plugin_register_vcpu_insn_exec_inline(insn, 0, &counts[a >> 1], 1);
    }
}

static void finish(qemu_plugin_id_t id, void *p) {
    (void)id;
    (void)p;
    FILE *f = fopen(out, "w");
    if (!f)
        return;
    for (uint64_t i = 0; i < RANGE / 2; i++)
        if (counts[i])
            fprintf(f, "%llx %llu\n", (unsigned long long)(base + (i << 1)),
                    (unsigned long long)counts[i]);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0)
            out = argv[i] + 4;
        else if (strncmp(argv[i], "base=", 5) == 0)
            base = strtoull(argv[i] + 5, NULL, 0);
    counts = calloc(RANGE / 2, sizeof *counts);
    if (!counts)
        return 1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, translate);
    qemu_plugin_register_atexit_cb(id, finish, NULL);
    return 0;
}
