/* The answer table: each run's current block, for the per-step answer, outside Python objects.
 *
 * A process answering thousands of runs at random finds little of any run in the CPU's caches,
 * and every object an answer reads is a trip to main memory that also slows the rest of the
 * request. In Python a run's record is reached through a dict entry, the stored name, the record
 * object and its buffer. Here a run is one 256-byte slot of an open-addressing table: its name
 * (up to 160 bytes inline), its block, its last step seen and up to four head floats (group
 * multipliers and curves constant over the block), with the rows of the other curves in one
 * allocation beside it. An answer reads the slot's first two lines (one aligned pair, which the
 * CPU fetches together), the rest of a long name, and the line holding its step's row.
 *
 * Every function runs holding the GIL and calls nothing that could release it, so each is atomic
 * for Python threads. Which runs stay, and how much memory they take, is the caller's business
 * (answers.NativeAnswers): this table only stores, finds and removes.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define INLINE_KEY 160
#define INLINE_HEAD 4

typedef struct {
    /* first line: what every lookup reads */
    uint64_t hash;
    int64_t k;        /* the block held */
    int64_t seen;     /* the highest step answered from this slot (-1: none) */
    double *rows;     /* size * nrow floats (and the head floats past INLINE_HEAD) */
    char *long_key;   /* the name, when longer than INLINE_KEY */
    int64_t label;    /* the caller's index of (layout, schedule, version) */
    int32_t key_len;  /* 0: an empty slot */
    int32_t size;     /* steps in the block */
    int16_t nhead;
    int16_t nrow;
    int32_t noted;    /* the slot waits in the caller's next flush of steps seen */
    /* the next three lines */
    double head[INLINE_HEAD];
    char key[INLINE_KEY];
} Slot;

_Static_assert(sizeof(Slot) == 256, "a slot is four cache lines");

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t mask;
    Py_ssize_t used;
    Py_ssize_t max_entries;
} Table;

static const char *
slot_key(const Slot *slot)
{
    return slot->key_len > INLINE_KEY ? slot->long_key : slot->key;
}

static void
slot_clear(Slot *slot)
{
    free(slot->rows);
    free(slot->long_key);
    memset(slot, 0, sizeof(Slot));
}

/* The slot holding ``key``, or the empty slot where it would go (*found tells which). */
static Slot *
table_find(Table *self, const char *key, Py_ssize_t len, uint64_t hash, int *found)
{
    size_t i = hash & self->mask;
    for (;;) {
        Slot *slot = &self->slots[i];
        if (slot->key_len == 0) {
            *found = 0;
            return slot;
        }
        if (slot->hash == hash && slot->key_len == len && memcmp(slot_key(slot), key, len) == 0) {
            *found = 1;
            return slot;
        }
        i = (i + 1) & self->mask;
    }
}

static int
key_of(PyObject *name, const char **key, Py_ssize_t *len, uint64_t *hash)
{
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "a run id must be a str");
        return -1;
    }
    *key = PyUnicode_AsUTF8AndSize(name, len);
    if (*key == NULL) {
        return -1;
    }
    if (*len == 0 || *len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a run id must not be empty");
        return -1;
    }
    Py_hash_t h = PyObject_Hash(name);
    if (h == -1 && PyErr_Occurred()) {
        return -1;
    }
    *hash = (uint64_t)h;
    return 0;
}

static int
table_ready(Table *self)
{
    if (self->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the table was not initialised");
        return -1;
    }
    return 0;
}

/* The slot of ``name`` or NULL (with no exception set when it is simply absent). */
static Slot *
table_lookup(Table *self, PyObject *name)
{
    const char *key;
    Py_ssize_t len;
    uint64_t hash;
    int found;
    if (table_ready(self) < 0 || key_of(name, &key, &len, &hash) < 0) {
        return NULL;
    }
    Slot *slot = table_find(self, key, len, hash, &found);
    return found ? slot : NULL;
}

/* 1 and the slot of ``name`` in *slot, 0 if absent, -1 with an exception set. */
static int
table_get(Table *self, PyObject *name, Slot **slot)
{
    *slot = table_lookup(self, name);
    if (*slot == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return 1;
}

static double
head_value(const Slot *slot, int j)
{
    return j < INLINE_HEAD ? slot->head[j] : slot->rows[(Py_ssize_t)slot->size * slot->nrow + j - INLINE_HEAD];
}

static int
Table_init(Table *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_entries", NULL};
    Py_ssize_t max_entries;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n", keywords, &max_entries)) {
        return -1;
    }
    if (self->slots != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the table is made already");
        return -1;
    }
    if (max_entries < 1 || max_entries > ((Py_ssize_t)1 << 30)) {
        PyErr_SetString(PyExc_ValueError, "max_entries must be between 1 and 2**30");
        return -1;
    }
    /* At most two thirds full: probes stay short. */
    size_t capacity = 16;
    while (capacity < (size_t)max_entries + (size_t)max_entries / 2) {
        capacity <<= 1;
    }
    /* Page-aligned (a slot's first line is one cache line) and zero until touched; on huge
     * pages where the kernel gives them, so that finding a slot costs no page walk. */
    size_t bytes = capacity * sizeof(Slot);
    void *slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) {
        PyErr_NoMemory();
        return -1;
    }
#ifdef MADV_HUGEPAGE
    madvise(slots, bytes, MADV_HUGEPAGE);
#endif
    self->slots = slots;
    self->mask = capacity - 1;
    self->used = 0;
    self->max_entries = max_entries;
    return 0;
}

static void
Table_dealloc(Table *self)
{
    if (self->slots != NULL) {
        for (size_t i = 0; i <= self->mask; i++) {
            if (self->slots[i].key_len != 0) {
                slot_clear(&self->slots[i]);
            }
        }
        munmap(self->slots, (self->mask + 1) * sizeof(Slot));
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(Table_answer_doc,
"answer(run, step) -> (label, floats, queue) | None\n\n"
"The floats of ``step`` (the head floats, then the row's) with the slot's label, if the run's\n"
"block holds it; the step is kept as seen if it is the highest. ``queue`` is True when the run\n"
"has just been marked as waiting for the next flush of steps seen (the caller queues it).");

static PyObject *
Table_answer(Table *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "answer(run, step)");
        return NULL;
    }
    long long step = PyLong_AsLongLong(args[1]);
    if (step == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Slot *slot;
    if (table_get(self, args[0], &slot) <= 0) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    long long first = slot->k * (long long)slot->size;
    if (step < first || step - first >= slot->size) {
        Py_RETURN_NONE;
    }
    Py_ssize_t i = (Py_ssize_t)(step - first);
    PyObject *floats = PyTuple_New(slot->nhead + slot->nrow);
    if (floats == NULL) {
        return NULL;
    }
    for (int j = 0; j < slot->nhead; j++) {
        PyObject *value = PyFloat_FromDouble(head_value(slot, j));
        if (value == NULL) {
            Py_DECREF(floats);
            return NULL;
        }
        PyTuple_SET_ITEM(floats, j, value);
    }
    for (int j = 0; j < slot->nrow; j++) {
        const double *row = slot->rows + i * slot->nrow;
        PyObject *value = PyFloat_FromDouble(row[j]);
        if (value == NULL) {
            Py_DECREF(floats);
            return NULL;
        }
        PyTuple_SET_ITEM(floats, slot->nhead + j, value);
    }
    int queue = 0;
    if (step > slot->seen) {
        slot->seen = step;
        if (!slot->noted) {
            slot->noted = 1;
            queue = 1;
        }
    }
    return Py_BuildValue("(LNO)", (long long)slot->label, floats, queue ? Py_True : Py_False);
}

PyDoc_STRVAR(Table_put_doc,
"put(run, k, label, size, head, rows, seen) -> None\n\n"
"Hold block ``k`` (of ``size`` steps) for ``run``: ``head`` the bytes of its head floats,\n"
"``rows`` those of its rows (native float64), ``seen`` its last step seen (waiting for no\n"
"flush). Replaces what the run held; a new run needs room (at most max_entries runs).");

static PyObject *
Table_put(Table *self, PyObject *args)
{
    PyObject *name;
    long long k, label, seen;
    int size;
    Py_buffer head, rows;
    if (!PyArg_ParseTuple(args, "OLLiy*y*L", &name, &k, &label, &size, &head, &rows, &seen)) {
        return NULL;
    }
    PyObject *result = NULL;
    const char *key;
    Py_ssize_t len;
    uint64_t hash;
    int found;
    double *data = NULL;
    char *long_key = NULL;
    Py_ssize_t nhead = head.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t row_floats = rows.len / (Py_ssize_t)sizeof(double);
    if (table_ready(self) < 0 || key_of(name, &key, &len, &hash) < 0) {
        goto done;
    }
    if (size < 1 || head.len % sizeof(double) || rows.len % sizeof(double) ||
        row_floats % size || nhead > INT16_MAX || row_floats / size > INT16_MAX || k < 0) {
        PyErr_SetString(PyExc_ValueError, "not a block: check size, head and rows");
        goto done;
    }
    Py_ssize_t extra = nhead > INLINE_HEAD ? nhead - INLINE_HEAD : 0;
    if (row_floats + extra > 0) {
        data = malloc((size_t)(row_floats + extra) * sizeof(double));
        if (data == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(data, rows.buf, (size_t)rows.len);
        if (extra) {
            memcpy(data + row_floats, (const double *)head.buf + INLINE_HEAD, (size_t)extra * sizeof(double));
        }
    }
    Slot *slot = table_find(self, key, len, hash, &found);
    if (!found) {
        if (self->used >= self->max_entries) {
            PyErr_SetString(PyExc_OverflowError, "the table is full");
            goto done;
        }
        if (len > INLINE_KEY) {
            long_key = malloc((size_t)len);
            if (long_key == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            memcpy(long_key, key, (size_t)len);
        }
        slot->hash = hash;
        slot->key_len = (int32_t)len;
        if (len > INLINE_KEY) {
            slot->long_key = long_key;
            long_key = NULL;
        } else {
            memcpy(slot->key, key, (size_t)len);
        }
        self->used++;
    }
    free(slot->rows);
    slot->rows = data;
    data = NULL;
    slot->k = k;
    slot->label = label;
    slot->size = size;
    slot->seen = seen;
    /* A new block waits for no flush, as a new record: a run queued already may be queued
     * again, which the flush takes in its stride. */
    slot->noted = 0;
    slot->nhead = (int16_t)nhead;
    slot->nrow = (int16_t)(row_floats / size);
    memcpy(slot->head, head.buf, (size_t)(nhead < INLINE_HEAD ? nhead : INLINE_HEAD) * sizeof(double));
    result = Py_None;
    Py_INCREF(result);
done:
    free(data);
    free(long_key);
    PyBuffer_Release(&head);
    PyBuffer_Release(&rows);
    return result;
}

PyDoc_STRVAR(Table_block_doc, "block(run) -> int | None\n\nThe block the run holds.");

static PyObject *
Table_block(Table *self, PyObject *name)
{
    Slot *slot;
    if (table_get(self, name, &slot) <= 0) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return PyLong_FromLongLong(slot->k);
}

PyDoc_STRVAR(Table_seen_doc,
"seen(run) -> (step, noted) | None\n\n"
"The run's last step seen and whether it waits for the next flush.");

static PyObject *
Table_seen(Table *self, PyObject *name)
{
    Slot *slot;
    if (table_get(self, name, &slot) <= 0) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return Py_BuildValue("(LO)", (long long)slot->seen, slot->noted ? Py_True : Py_False);
}

PyDoc_STRVAR(Table_unnote_doc,
"unnote(run) -> int | None\n\n"
"Mark the run as no longer waiting for a flush; returns its last step seen.");

static PyObject *
Table_unnote(Table *self, PyObject *name)
{
    Slot *slot;
    if (table_get(self, name, &slot) <= 0) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    slot->noted = 0;
    return PyLong_FromLongLong(slot->seen);
}

PyDoc_STRVAR(Table_pop_doc,
"pop(run) -> (step, noted) | None\n\n"
"Remove the run; returns its last step seen and whether it waited for a flush.");

static PyObject *
Table_pop(Table *self, PyObject *name)
{
    Slot *slot;
    if (table_get(self, name, &slot) <= 0) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *result = Py_BuildValue("(LO)", (long long)slot->seen, slot->noted ? Py_True : Py_False);
    if (result == NULL) {
        return NULL;
    }
    slot_clear(slot);
    self->used--;
    /* Backward-shift deletion: move up every later slot of the probe run that the hole would
     * otherwise hide from its home position. */
    size_t hole = (size_t)(slot - self->slots);
    size_t i = hole;
    for (;;) {
        i = (i + 1) & self->mask;
        Slot *next = &self->slots[i];
        if (next->key_len == 0) {
            break;
        }
        size_t home = next->hash & self->mask;
        /* Move it if its home is not cyclically within (hole, i]. */
        int stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (!stays) {
            self->slots[hole] = *next;
            memset(next, 0, sizeof(Slot));
            hole = i;
        }
    }
    return result;
}

static Py_ssize_t
Table_len(Table *self)
{
    return self->used;
}

static PyMethodDef Table_methods[] = {
    {"answer", (PyCFunction)(void (*)(void))Table_answer, METH_FASTCALL, Table_answer_doc},
    {"put", (PyCFunction)Table_put, METH_VARARGS, Table_put_doc},
    {"block", (PyCFunction)Table_block, METH_O, Table_block_doc},
    {"seen", (PyCFunction)Table_seen, METH_O, Table_seen_doc},
    {"unnote", (PyCFunction)Table_unnote, METH_O, Table_unnote_doc},
    {"pop", (PyCFunction)Table_pop, METH_O, Table_pop_doc},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Table_as_sequence = {
    .sq_length = (lenfunc)Table_len,
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lrcast_server._answertable.Table",
    .tp_doc = PyDoc_STR("Table(max_entries): runs' current blocks, for the per-step answer."),
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Table_init,
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_methods = Table_methods,
    .tp_as_sequence = &Table_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lrcast_server._answertable",
    .m_doc = "The answer table (see answers.py); optional: answers.py works without it.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__answertable(void)
{
    if (PyType_Ready(&TableType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
