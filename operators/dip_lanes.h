/* dip_lanes.h - the body of operators/dip.c's vector dip (dip_core lane by lane), written once for every lane width:
 * dip.c includes it inside dip4 (AVX2, 4 doubles) and dip8 (AVX-512, 8 doubles) after defining VD (the vector of
 * doubles), VM (a comparison's result), SET1, ADD, SUB, MUL, DIV, SQRT, ABS, CMP(a, b, predicate), GT(a, b),
 * SEL(mask, yes, no) and TO_FLOAT (to the floats returned); it undefines them at its end. The arguments are a00, a11,
 * a22, a01, a02, a12. Every operation mirrors dip_core's, in its order, so each width gives the same bits. */
    VD p1 = ADD(ADD(MUL(a01, a01), MUL(a02, a02)), MUL(a12, a12));
    VD q = MUL(ADD(ADD(a00, a11), a22), SET1(1.0 / 3));
    VD b00 = SUB(a00, q), b11 = SUB(a11, q), b22 = SUB(a22, q);
    VD p2 = ADD(ADD(ADD(MUL(b00, b00), MUL(b11, b11)), MUL(b22, b22)), MUL(SET1(2), p1));
    VM pos = GT(p2, SET1(0));
    VD p = SQRT(MUL(SEL(pos, p2, SET1(6.0)), SET1(1.0 / 6)));
    VD det = ADD(SUB(MUL(b00, SUB(MUL(b11, b22), MUL(a12, a12))), MUL(a01, SUB(MUL(a01, b22), MUL(a12, a02)))),
                 MUL(a02, SUB(MUL(a01, a12), MUL(b11, a02))));
    VD r = DIV(det, MUL(MUL(MUL(SET1(2), p), p), p));
    r = SEL(CMP(r, SET1(-1), _CMP_LT_OQ), SET1(-1), r);
    r = SEL(GT(r, SET1(1)), SET1(1), r);
    VD s = SQRT(MUL(SET1(0.5), ADD(SET1(1), r)));
    VD c = SET1(0.004153836351740706);
    c = SUB(MUL(c, s), SET1(0.01913355735266723));
    c = ADD(MUL(c, s), SET1(0.04756315912966307));
    c = SUB(MUL(c, s), SET1(0.10981502964445207));
    c = ADD(MUL(c, s), SET1(0.5772309136940573));
    c = ADD(MUL(c, s), SET1(0.5000026840050211));
    VD d = SUB(MUL(MUL(SET1(12), c), c), SET1(3));
    VD f = SUB(SUB(MUL(MUL(MUL(SET1(4), c), c), c), MUL(SET1(3), c)), r);
    c = SEL(GT(d, SET1(1e-9)), SUB(c, DIV(f, d)), c);
    VD lam = ADD(q, MUL(MUL(SET1(2), p), c));
    VD m00 = SUB(a00, lam), m11 = SUB(a11, lam), m22 = SUB(a22, lam);
    VD x01 = SUB(MUL(a01, a12), MUL(a02, m11)), y01 = SUB(MUL(a02, a01), MUL(m00, a12));
    VD z01 = SUB(MUL(m00, m11), MUL(a01, a01));
    VD x02 = SUB(MUL(a01, m22), MUL(a02, a12)), y02 = SUB(MUL(a02, a02), MUL(m00, m22));
    VD z02 = SUB(MUL(m00, a12), MUL(a01, a02));
    VD x12 = SUB(MUL(m11, m22), MUL(a12, a12)), y12 = SUB(MUL(a12, a02), MUL(a01, m22));
    VD z12 = SUB(MUL(a01, a12), MUL(m11, a02));
    VD n01 = ADD(ADD(MUL(x01, x01), MUL(y01, y01)), MUL(z01, z01));
    VD n02 = ADD(ADD(MUL(x02, x02), MUL(y02, y02)), MUL(z02, z02));
    VD n12 = ADD(ADD(MUL(x12, x12), MUL(y12, y12)), MUL(z12, z12));
    VM u = GT(n02, n01);
    VD bx = SEL(u, x02, x01), by = SEL(u, y02, y01), bz = SEL(u, z02, z01), bn = SEL(u, n02, n01);
    u = GT(n12, bn);
    bx = SEL(u, x12, bx);
    by = SEL(u, y12, by);
    bz = SEL(u, z12, bz);
    bn = SEL(u, n12, bn);
    VD h = SQRT(ADD(MUL(bx, bx), MUL(by, by)));
    VD z = ABS(bz);
    VM steep = GT(h, z);
    VD x = DIV(SEL(steep, z, h), SEL(steep, h, z)), zz = MUL(x, x);
    VD pa = SET1(-0.005020576016063317);
    pa = ADD(MUL(pa, zz), SET1(0.025330154803904145));
    pa = SUB(MUL(pa, zz), SET1(0.0608725668951625));
    pa = ADD(MUL(pa, zz), SET1(0.10002088131304603));
    pa = SUB(MUL(pa, zz), SET1(0.14047784530571744));
    pa = ADD(MUL(pa, zz), SET1(0.19974023063825264));
    pa = SUB(MUL(pa, zz), SET1(0.333322322953556));
    pa = ADD(MUL(pa, zz), SET1(0.999999922736497));
    VD a = MUL(x, pa);
    VD deg = MUL(SEL(steep, SUB(SET1(M_PI / 2), a), a), SET1(180.0 / M_PI));
    deg = SEL(GT(bn, SET1(0)), deg, SET1(NAN));
    return TO_FLOAT(SEL(CMP(p2, SET1(0), _CMP_EQ_OQ), SET1(0.0), deg));
#undef VD
#undef VM
#undef SET1
#undef MUL
#undef ADD
#undef SUB
#undef DIV
#undef SQRT
#undef ABS
#undef CMP
#undef GT
#undef SEL
#undef TO_FLOAT
