/* pyframes_layout.h - where CPython 3.11 keeps what pyframes.c reads (LP64), from its headers pycore_frame.h,
 * pycore_runtime.h, cpython/code.h, pystate.h and unicodeobject.h. tests/test_pyframes.c compiles these against
 * the installed headers when present. */
#ifndef TQ_PYFRAMES_LAYOUT_H
#define TQ_PYFRAMES_LAYOUT_H

enum {
    TQ_PY311_RT_TSTATE_CURRENT = 576, /* _PyRuntimeState.gilstate.tstate_current: the thread holding the GIL */
    TQ_PY311_RT_AUTOTSS = 592,        /* _PyRuntimeState.gilstate.autoTSSkey: Py_tss_t {int initialized; key} */
    TQ_PY311_TS_CFRAME = 56,          /* PyThreadState.cframe */
    TQ_PY311_CF_CURRENT = 8,          /* _PyCFrame.current_frame */
    TQ_PY311_IF_CODE = 32,            /* _PyInterpreterFrame.f_code */
    TQ_PY311_IF_PREVIOUS = 48,        /* _PyInterpreterFrame.previous */
    TQ_PY311_IF_PREV_INSTR = 56,      /* _PyInterpreterFrame.prev_instr (the instruction being executed) */
    TQ_PY311_IF_IS_ENTRY = 68,        /* _PyInterpreterFrame.is_entry: first frame of a _PyEval_EvalFrameDefault */
    TQ_PY311_OB_TYPE = 8,             /* PyObject.ob_type */
    TQ_PY311_OB_SIZE = 16,            /* PyVarObject.ob_size (code objects: code units; bytes: length) */
    TQ_PY311_CO_FIRSTLINENO = 72,     /* PyCodeObject.co_firstlineno */
    TQ_PY311_CO_FILENAME = 112,       /* PyCodeObject.co_filename */
    TQ_PY311_CO_QUALNAME = 128,       /* PyCodeObject.co_qualname */
    TQ_PY311_CO_LINETABLE = 136,      /* PyCodeObject.co_linetable */
    TQ_PY311_CO_CODE = 184,           /* PyCodeObject.co_code_adaptive: the bytecode, 2-byte code units */
    TQ_PY311_STR_LENGTH = 16,         /* PyASCIIObject.length (code points) */
    TQ_PY311_STR_STATE = 32,          /* PyASCIIObject.state: interned:2 kind:3 compact:1 ascii:1 ready:1 */
    TQ_PY311_STR_ASCII_DATA = 48,     /* sizeof(PyASCIIObject): a compact ASCII string's characters */
    TQ_PY311_STR_COMPACT_DATA = 72,   /* sizeof(PyCompactUnicodeObject): other compact strings' characters */
    TQ_PY311_BYTES_DATA = 32,         /* PyBytesObject.ob_sval */
};

#endif
