/*
 * sclite-compatible Levenshtein alignment, in C.
 *
 * Why hand-written C: no library reproduces sclite's alignment. kaldialign's sclite_mode has the same
 * weights but other tie-breaking (its error counts differ from sclite's on 126 of 3,000 character-level
 * utterances, see shared/research/scoring.md), and a pure-Python port of the DP aligns only 0.26 M
 * words/s, far below the jiwer (rapidfuzz) speed that `asr score` must match.
 *
 * The programme follows sclite's net_dp.c and word.c: costs correct 0, substitution 4, deletion 3,
 * insertion 3; in each cell the diagonal wins when it is <= both others, else the deletion when it is
 * strictly below the insertion, else the insertion. The chosen move of every cell is kept in two bits
 * (n*m/4 bytes: 100 MB for a pair of 20,000-word transcripts, where sclite takes 3.2 GB) and the path is
 * traced back from the end, as sclite does; longer pairs are done in blocks of rows (see align_sclite).
 *
 * Tokens are either the code points of two str objects or the items of two sequences of hashable
 * objects, interned to integers through a dict so that the inner loop compares integers only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MOVE_DIAG = 0, MOVE_DEL = 1, MOVE_INS = 2 };
enum { COST_SUB = 4, COST_DEL = 3, COST_INS = 3 };

typedef struct {
    Py_ssize_t len;
    uint32_t *ids;
} TokenSeq;

static void seq_free(TokenSeq *s) { PyMem_Free(s->ids); s->ids = NULL; }

static int str_to_seq(PyObject *text, TokenSeq *out) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    out->len = n;
    out->ids = PyMem_Malloc(sizeof(uint32_t) * (n ? n : 1));
    if (!out->ids) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) out->ids[i] = PyUnicode_READ(kind, data, i);
    return 0;
}

/* Interns every item of `items` in `vocab` (item -> int) and writes the ints to `out`. */
static int items_to_seq(PyObject *items, PyObject *vocab, TokenSeq *out) {
    PyObject *fast = PySequence_Fast(items, "tokens must be a str or a sequence");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **elems = PySequence_Fast_ITEMS(fast);
    out->len = n;
    out->ids = PyMem_Malloc(sizeof(uint32_t) * (n ? n : 1));
    if (!out->ids) { Py_DECREF(fast); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *next = PyLong_FromSsize_t(PyDict_GET_SIZE(vocab));
        if (!next) goto fail;
        PyObject *id = PyDict_SetDefault(vocab, elems[i], next);
        Py_DECREF(next);
        if (!id) goto fail;
        out->ids[i] = (uint32_t)PyLong_AsUnsignedLong(id);
    }
    Py_DECREF(fast);
    return 0;
fail:
    Py_DECREF(fast);
    seq_free(out);
    return -1;
}

/* Move of cell (i, j) of a block whose first row is row0 + 1: rows of `stride` bytes, four 2-bit moves each. */
static inline int get_move(const uint8_t *moves, size_t stride, Py_ssize_t row0, Py_ssize_t i, Py_ssize_t j) {
    return (moves[(size_t)(i - row0 - 1) * stride + ((j - 1) >> 2)] >> (((j - 1) & 3) * 2)) & 3;
}

/* Work rows of one DP over a hypothesis of m tokens. */
typedef struct {
    int32_t *prev, *cur, *diag;
    uint8_t *move;
} Rows;

static void rows_free(Rows *w) { free(w->prev); free(w->cur); free(w->diag); free(w->move); }

static int rows_alloc(Rows *w, Py_ssize_t m, size_t stride) {
    w->prev = malloc(sizeof(int32_t) * (m + 1));
    w->cur = malloc(sizeof(int32_t) * (m + 1));
    w->diag = malloc(sizeof(int32_t) * (m + 1));
    w->move = malloc(stride * 4 + 1);
    if (!w->prev || !w->cur || !w->diag || !w->move) { rows_free(w); return -1; }
    memset(w->move, MOVE_DIAG, stride * 4 + 1);
    return 0;
}

/* Computes cost row i (into w->cur) from row i-1 (w->prev), writes its packed moves to `out`, then swaps
 * the rows. Three passes so that the compiler vectorises two of them: (1) the best of the diagonal and the
 * deletion, (2) the only sequential part, cur[j] = min(that, cur[j-1] + 3), one add and one min per cell,
 * and (3) the move, by sclite's rule, which needs the finished row (it compares the diagonal with the
 * insertion cur[j-1] + 3). */
static void fill_row(Rows *w, uint32_t r, const uint32_t *h, Py_ssize_t m, Py_ssize_t i, uint8_t *out, size_t stride) {
    int32_t *restrict prev = w->prev, *restrict cur = w->cur, *restrict diag = w->diag;
    uint8_t *restrict mv = w->move;
    for (Py_ssize_t j = 1; j <= m; j++) {
        int32_t d = prev[j - 1] + (r == h[j - 1] ? 0 : COST_SUB);
        int32_t del = prev[j] + COST_DEL;
        diag[j] = d;
        cur[j] = d < del ? d : del;
    }
    int32_t left = cur[0] = COST_DEL * (int32_t)i;
    for (Py_ssize_t j = 1; j <= m; j++) {
        int32_t ins = left + COST_INS;
        left = cur[j] = cur[j] < ins ? cur[j] : ins;
    }
    for (Py_ssize_t j = 1; j <= m; j++) {
        int32_t d = diag[j], del = prev[j] + COST_DEL, ins = cur[j - 1] + COST_INS;
        int diag_loses = (d > del) | (d > ins);
        mv[j - 1] = (uint8_t)(diag_loses * (MOVE_INS - (del < ins)));  /* DIAG 0, DEL 1, INS 2 */
    }
    for (size_t k = 0; k < stride; k++)
        out[k] = mv[4 * k] | mv[4 * k + 1] << 2 | mv[4 * k + 2] << 4 | mv[4 * k + 3] << 6;
    w->prev = cur;
    w->cur = prev;
}

/* Traces the path back from (*pi, *pj) to row `row0` (to (0, 0) when row0 is 0) through the moves of rows
 * row0+1 .. *pi, writing ops ('C','S','D','I') backwards before ops[*ppos]. */
static void trace_block(const TokenSeq *ref, const TokenSeq *hyp, const uint8_t *moves, size_t stride,
                        Py_ssize_t row0, Py_ssize_t *pi, Py_ssize_t *pj, char *ops, Py_ssize_t *ppos) {
    Py_ssize_t i = *pi, j = *pj, pos = *ppos;
    while (i > row0 || (row0 == 0 && j > 0)) {
        int move = (i == 0) ? MOVE_INS : (j == 0) ? MOVE_DEL : get_move(moves, stride, row0, i, j);
        if (move == MOVE_DIAG) {
            ops[--pos] = ref->ids[i - 1] == hyp->ids[j - 1] ? 'C' : 'S';
            i--; j--;
        } else if (move == MOVE_DEL) {
            ops[--pos] = 'D';
            i--;
        } else {
            ops[--pos] = 'I';
            j--;
        }
    }
    *pi = i; *pj = j; *ppos = pos;
}

/* The alignment, in `ops` (capacity n+m); returns the number of ops, or -1 when out of memory. Where
 * `progress` is not NULL, progress[1] is set to the rows it will fill and progress[0] counts those filled (a
 * caller's thread reads them while this runs: a long pair's progress bar stood at 0% for a minute, R56).
 *
 * The moves of all n rows take n*m/4 bytes. Where that exceeds `budget`, the rows are cut into blocks of
 * budget/stride rows: a first pass keeps only the cost row that starts each block (checkpoints), then the
 * backtrace recomputes the moves one block at a time, last block first. The path is the same (every move
 * is recomputed from the same costs); the time at most doubles, and memory stays within the budget plus one
 * cost row per block. Runs without the GIL. */
static Py_ssize_t align_sclite(const TokenSeq *ref, const TokenSeq *hyp, size_t budget, char *ops,
                               volatile int64_t *progress) {
    Py_ssize_t n = ref->len, m = hyp->len;
    size_t stride = ((size_t)m + 3) / 4;
    Py_ssize_t block = (Py_ssize_t)(stride ? budget / stride : (size_t)n);
    block = block < 1 ? 1 : block > n ? n : block;
    Py_ssize_t blocks = n ? (n + block - 1) / block : 0;
    Rows w;
    if (rows_alloc(&w, m, stride)) return -1;
    int32_t *checkpoints = malloc(sizeof(int32_t) * (m + 1) * (blocks ? blocks : 1));
    uint8_t *moves = malloc((size_t)block * stride + 1);
    if (!checkpoints || !moves) { rows_free(&w); free(checkpoints); free(moves); return -1; }
    for (Py_ssize_t j = 0; j <= m; j++) checkpoints[j] = COST_INS * (int32_t)j;
    int64_t unused = 0;
    volatile int64_t *filled = progress ? progress : &unused;
    *filled = 0;
    if (progress) progress[1] = blocks > 1 ? 2 * (int64_t)n - 1 : n;
    if (blocks > 1) {  /* first pass: the cost rows block, 2*block, ... */
        memcpy(w.prev, checkpoints, sizeof(int32_t) * (m + 1));
        for (Py_ssize_t i = 1; i < n; i++) {
            fill_row(&w, ref->ids[i - 1], hyp->ids, m, i, moves, stride);
            ++*filled;
            if (i % block == 0) memcpy(checkpoints + (size_t)(i / block) * (m + 1), w.prev, sizeof(int32_t) * (m + 1));
        }
    }
    Py_ssize_t i = n, j = m, pos = n + m;
    for (Py_ssize_t b = blocks - 1; b >= 0; b--) {
        Py_ssize_t row0 = b * block;
        memcpy(w.prev, checkpoints + (size_t)b * (m + 1), sizeof(int32_t) * (m + 1));
        for (Py_ssize_t r = row0 + 1; r <= i; r++, ++*filled)
            fill_row(&w, ref->ids[r - 1], hyp->ids, m, r, moves + (size_t)(r - row0 - 1) * stride, stride);
        trace_block(ref, hyp, moves, stride, row0, &i, &j, ops, &pos);
    }
    trace_block(ref, hyp, moves, stride, 0, &i, &j, ops, &pos);  /* an empty reference: insertions only */
    rows_free(&w);
    free(checkpoints);
    free(moves);
    Py_ssize_t count = n + m - pos;
    memmove(ops, ops + pos, count);
    return count;
}

static int to_seqs(PyObject *ref, PyObject *hyp, TokenSeq *r, TokenSeq *h) {
    r->ids = h->ids = NULL;
    if (PyUnicode_Check(ref) && PyUnicode_Check(hyp))
        return str_to_seq(ref, r) || str_to_seq(hyp, h) ? (seq_free(r), -1) : 0;
    PyObject *vocab = PyDict_New();
    if (!vocab) return -1;
    int rc = items_to_seq(ref, vocab, r) || items_to_seq(hyp, vocab, h) ? -1 : 0;
    Py_DECREF(vocab);
    if (rc) seq_free(r);
    return rc;
}

#define DEFAULT_BUDGET ((size_t)256 << 20)  /* bytes of moves kept at once: a 32,000-token square pair */

PyDoc_STRVAR(sclite_ops_doc,
"sclite_ops(ref, hyp, max_move_bytes=256 MiB, progress=None) -> bytes\n\n"
"Aligns two token sequences (two str, compared by code point, or two sequences of hashable tokens)\n"
"with NIST sclite's costs and tie-breaking; returns the operations in order as bytes of\n"
"b'C' (correct), b'S' (substitution), b'D' (deletion) and b'I' (insertion). Longer pairs than\n"
"max_move_bytes allows are aligned in blocks of rows (same result, up to twice the time).\n"
"progress, a writable buffer of two int64 (array('q', [0, 0])), receives [rows filled, rows to fill]\n"
"while the alignment runs without the GIL, for another thread to show.");

static PyObject *sclite_ops(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"ref", "hyp", "max_move_bytes", "progress", NULL};
    PyObject *ref_obj, *hyp_obj, *progress_obj = Py_None;
    Py_ssize_t budget = (Py_ssize_t)DEFAULT_BUDGET;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|nO:sclite_ops", names, &ref_obj, &hyp_obj, &budget,
                                     &progress_obj))
        return NULL;
    if (budget < 1) { PyErr_SetString(PyExc_ValueError, "max_move_bytes must be positive"); return NULL; }
    Py_buffer view = {0};
    if (progress_obj != Py_None) {
        if (PyObject_GetBuffer(progress_obj, &view, PyBUF_WRITABLE) < 0) return NULL;
        if (view.len < 2 * (Py_ssize_t)sizeof(int64_t) || ((uintptr_t)view.buf % sizeof(int64_t))) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "progress must be a writable buffer of two int64");
            return NULL;
        }
    }
    volatile int64_t *progress = view.buf;
    TokenSeq ref, hyp;
    if (to_seqs(ref_obj, hyp_obj, &ref, &hyp)) { PyBuffer_Release(&view); return NULL; }
    PyObject *result = NULL;
    char *ops = PyMem_Malloc(ref.len + hyp.len + 1);
    if (!ops) {
        PyErr_NoMemory();
    } else {
        Py_ssize_t count;
        Py_BEGIN_ALLOW_THREADS
        count = align_sclite(&ref, &hyp, (size_t)budget, ops, progress);
        Py_END_ALLOW_THREADS
        if (count < 0) PyErr_NoMemory();
        else result = PyBytes_FromStringAndSize(ops, count);
    }
    PyMem_Free(ops);
    seq_free(&ref);
    seq_free(&hyp);
    if (view.obj) PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"sclite_ops", (PyCFunction)(void (*)(void))sclite_ops, METH_VARARGS | METH_KEYWORDS, sclite_ops_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_align", "sclite-compatible alignment (C).", -1, methods,
};

PyMODINIT_FUNC PyInit__align(void) { return PyModule_Create(&module); }
