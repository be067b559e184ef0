/*
 * tensorpeek's breakpoint screen as a CPython extension: `sumsq(x)`, the sum of the squares of
 * a plain, contiguous CPU float tensor's values, read in place by reduce.c's kernel, with
 * every check of `tensorpeek.summary.native._sumsq_ctypes` done here. The hooks call it for
 * every module output, gradient and parameter of every step; through ctypes each call costs
 * about 1.5 us of argument conversion before the kernel starts, here about 0.1 us. Built
 * beside `_reduce.so` when Python's headers are there (hatch_build.py); without it the ctypes
 * path runs, with the same checks and the same numbers.
 *
 * The tensor is read only through its Python attributes (no torch headers): `dtype`, `is_cpu`,
 * `layout`, `is_nested`, `is_contiguous()`, the functorch-wrapper test, `nbytes`, `itemsize`,
 * `data_ptr()` and its untyped storage's `data_ptr()` and `nbytes()`. `setup()` hands over the
 * torch objects compared against, once, from native.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "reduce.c"

#define SCREEN_ABI 1
/* the ctypes path's grain (native.THREAD_GRAIN): below two grains one thread reads the block */
#define GRAIN ((int64_t)1 << 18)
/* blocks this large are read with the GIL released (other Python threads run meanwhile) */
#define RELEASE_GIL_FROM ((int64_t)1 << 16)

static PyObject *tensor_type, *parameter_type, *strided, *is_wrapped, *num_threads;
static PyObject *kinds[4]; /* dtypes in kernel-kind order: float32, float64, bfloat16, float16 */
static PyObject *s_dtype, *s_is_cpu, *s_layout, *s_is_nested, *s_is_contiguous, *s_nbytes;
static PyObject *s_itemsize, *s_untyped_storage, *s_data_ptr;

static int replace(PyObject **slot, PyObject *value) {
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

static PyObject *screen_setup(PyObject *self, PyObject *args) {
    PyObject *tensor, *parameter, *dtypes, *layout, *wrapped, *threads;
    if (!PyArg_ParseTuple(args, "OOO!OOO", &tensor, &parameter, &PyTuple_Type, &dtypes, &layout,
                          &wrapped, &threads))
        return NULL;
    if (PyTuple_GET_SIZE(dtypes) != 4) {
        PyErr_SetString(PyExc_ValueError, "setup: four dtypes (float32, float64, bfloat16, float16)");
        return NULL;
    }
    if (!PyCallable_Check(wrapped) || !PyCallable_Check(threads)) {
        PyErr_SetString(PyExc_TypeError, "setup: the wrapper test and thread count are callables");
        return NULL;
    }
    replace(&tensor_type, tensor);
    replace(&parameter_type, parameter);
    for (int i = 0; i < 4; i++) replace(&kinds[i], PyTuple_GET_ITEM(dtypes, i));
    replace(&strided, layout);
    replace(&is_wrapped, wrapped);
    replace(&num_threads, threads);
    Py_RETURN_NONE;
}

/* 1 when attribute `name` of `x` is true, 0 when false, -1 with an exception set */
static int attr_true(PyObject *x, PyObject *name) {
    PyObject *v = PyObject_GetAttr(x, name);
    if (v == NULL) return -1;
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

static int int_attr(PyObject *x, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(x, name);
    if (v == NULL) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int int_call(PyObject *x, PyObject *name, unsigned long long *out) {
    PyObject *v = PyObject_CallMethodNoArgs(x, name);
    if (v == NULL) return -1;
    *out = PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    return (*out == (unsigned long long)-1 && PyErr_Occurred()) ? -1 : 0;
}

/* None when the tensor cannot be read in place; NULL with the exception set on an error the
 * ctypes path would raise too (a RuntimeError reaching the storage means: nothing to read) */
static PyObject *screen_sumsq(PyObject *self, PyObject *x) {
    if (tensor_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tensorpeek's screen module was not set up");
        return NULL;
    }
    PyObject *type = (PyObject *)Py_TYPE(x);
    if (type != tensor_type && type != parameter_type) Py_RETURN_NONE;
    PyObject *dtype = PyObject_GetAttr(x, s_dtype);
    if (dtype == NULL) return NULL;
    int kind = -1;
    for (int i = 0; i < 4; i++)
        if (dtype == kinds[i]) kind = i;
    Py_DECREF(dtype);
    if (kind < 0) Py_RETURN_NONE;
    int r = attr_true(x, s_is_cpu);
    if (r <= 0) return r < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
    PyObject *layout = PyObject_GetAttr(x, s_layout);
    if (layout == NULL) return NULL;
    int is_strided = layout == strided;
    Py_DECREF(layout);
    if (!is_strided) Py_RETURN_NONE;
    r = attr_true(x, s_is_nested);
    if (r != 0) return r < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
    PyObject *v = PyObject_CallMethodNoArgs(x, s_is_contiguous);
    if (v == NULL) return NULL;
    r = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (r <= 0) return r < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
    v = PyObject_CallOneArg(is_wrapped, x);
    if (v == NULL) return NULL;
    r = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (r != 0) return r < 0 ? NULL : (Py_INCREF(Py_None), Py_None);

    long long nbytes, itemsize;
    if (int_attr(x, s_nbytes, &nbytes) < 0) return NULL;
    unsigned long long base, start, storage_bytes;
    PyObject *storage = PyObject_CallMethodNoArgs(x, s_untyped_storage);
    if (storage == NULL || int_call(storage, s_data_ptr, &base) < 0 ||
        int_call(x, s_data_ptr, &start) < 0) {
        Py_XDECREF(storage);
        if (PyErr_ExceptionMatches(PyExc_RuntimeError)) { /* "invalid python storage" */
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return NULL;
    }
    if (base == 0 || nbytes <= 0 || start < base) {
        Py_DECREF(storage);
        Py_RETURN_NONE;
    }
    int failed = int_call(storage, s_nbytes, &storage_bytes);
    if (failed < 0 || int_attr(x, s_itemsize, &itemsize) < 0) {
        Py_DECREF(storage);
        return NULL;
    }
    if (start + (unsigned long long)nbytes > base + storage_bytes || itemsize <= 0) {
        Py_DECREF(storage);
        Py_RETURN_NONE;
    }
    int64_t n = (int64_t)(nbytes / itemsize);
    int threads = 1;
    if (n >= 2 * GRAIN) {
        PyObject *t = PyObject_CallNoArgs(num_threads);
        long count = t == NULL ? -1 : PyLong_AsLong(t);
        Py_XDECREF(t);
        if (count == -1 && PyErr_Occurred()) {
            Py_DECREF(storage);
            return NULL;
        }
        threads = (int)(count < n / GRAIN ? count : n / GRAIN);
        if (threads < 1) threads = 1;
    }
    const void *p = (const void *)(uintptr_t)start;
    double squares;
    if (n >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS squares = tp_sumsq(kind, p, n, threads);
        Py_END_ALLOW_THREADS
    } else {
        squares = tp_sumsq(kind, p, n, threads);
    }
    Py_DECREF(storage); /* the storage (and x, the caller's) stayed referenced while read */
    return PyFloat_FromDouble(squares);
}

static PyObject *screen_abi(PyObject *self, PyObject *unused) { return PyLong_FromLong(SCREEN_ABI); }

static PyMethodDef methods[] = {
    {"setup", screen_setup, METH_VARARGS,
     "setup(Tensor, Parameter, (float32, float64, bfloat16, float16), strided, "
     "is_functorch_wrapped_tensor, get_num_threads): the torch objects sumsq compares against"},
    {"sumsq", screen_sumsq, METH_O,
     "sumsq(x) -> float | None: the sum of the squares of x's values read in place, or None "
     "when x is not a plain, contiguous CPU float tensor with its values in its storage"},
    {"abi", screen_abi, METH_NOARGS, "the version of this module's interface"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_screen", NULL, -1, methods};

PyMODINIT_FUNC PyInit__screen(void) {
    s_dtype = PyUnicode_InternFromString("dtype");
    s_is_cpu = PyUnicode_InternFromString("is_cpu");
    s_layout = PyUnicode_InternFromString("layout");
    s_is_nested = PyUnicode_InternFromString("is_nested");
    s_is_contiguous = PyUnicode_InternFromString("is_contiguous");
    s_nbytes = PyUnicode_InternFromString("nbytes");
    s_itemsize = PyUnicode_InternFromString("itemsize");
    s_untyped_storage = PyUnicode_InternFromString("untyped_storage");
    s_data_ptr = PyUnicode_InternFromString("data_ptr");
    if (!s_dtype || !s_is_cpu || !s_layout || !s_is_nested || !s_is_contiguous || !s_nbytes ||
        !s_itemsize || !s_untyped_storage || !s_data_ptr)
        return NULL;
    return PyModule_Create(&module);
}
