//! The bf16 tile on AMX (TDPBF16PS): a 16x32 output block in two 16x16
//! f32 tile registers, fed 16 pairs deep per step from one 16x16-pair tile
//! of activations and two of weights. The packed panels are 32 columns of
//! bf16 pairs, which is exactly the layout AMX wants for its B operand.
//!
//! The instructions go through `asm!`: Rust's AMX intrinsics are not
//! stable. [`super::super::cpu`] dispatches here only where CPUID and the
//! OS report AMX and Linux granted the tile-data permission.

use super::TileArgs;

/// Columns per panel (two tiles of 16).
const NR: usize = 32;
/// Rows per tile, and pairs per tile row (64 bytes).
const ROWS: usize = 16;

/// `ldtilecfg`'s 64-byte operand: palette 1; tiles 0-1 hold the output
/// (16 rows of 16 f32), tile 2 the activations (16 rows of 16 pairs),
/// tiles 3-4 the weights (16 pair-rows of 16 columns); 64 bytes a row.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

static CONFIG: TileConfig = {
    let mut colsb = [0u16; 16];
    let mut rows = [0u8; 16];
    let mut t = 0;
    while t < 5 {
        colsb[t] = 64;
        rows[t] = ROWS as u8;
        t += 1;
    }
    TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb,
        rows,
    }
};

/// `c = init + a @ panel` over a full 16x32 tile of bf16 pairs; `kc` is a
/// multiple of 16 (the packing pads the depth to it).
///
/// # Safety
/// The CPU must have AMX-TILE and AMX-BF16 with tile data permitted, `kc`
/// a multiple of 16, and `t`'s pointers valid for 16 rows of `kc` pairs at
/// stride `lda`, `kc * 32` panel pairs, 32 bias values (if not null) and
/// 16 rows of 32 outputs at stride `ldc`.
pub(super) unsafe fn tile(t: &TileArgs<u32>) {
    if !t.bias.is_null() {
        for r in 0..ROWS {
            // SAFETY: row r of the output tile and the 32 bias values.
            unsafe { std::ptr::copy_nonoverlapping(t.bias, t.c.add(r * t.ldc), NR) };
        }
    }
    let (lda, ldc, panel_stride) = (t.lda * 4, t.ldc * 4, NR * 4);
    // SAFETY: the caller vouches for AMX and every extent; tile loads read
    // 16 rows of 64 bytes at the given strides, inside those extents. The
    // compiler never uses tile registers, so they keep their values from
    // one asm block to the next.
    unsafe {
        std::arch::asm!(
            "ldtilecfg [{cfg}]",
            "tileloadd tmm0, [{c} + {ldc} * 1]",
            "tileloadd tmm1, [{c1} + {ldc} * 1]",
            cfg = in(reg) &raw const CONFIG,
            c = in(reg) t.c,
            c1 = in(reg) t.c.add(16),
            ldc = in(reg) ldc,
            options(nostack, readonly),
        );
        for k0 in (0..t.kc).step_by(ROWS) {
            let b = t.panel.add(k0 * NR);
            std::arch::asm!(
                "tileloadd tmm2, [{a} + {lda} * 1]",
                "tileloadd tmm3, [{b0} + {ldb} * 1]",
                "tileloadd tmm4, [{b1} + {ldb} * 1]",
                "tdpbf16ps tmm0, tmm2, tmm3",
                "tdpbf16ps tmm1, tmm2, tmm4",
                a = in(reg) t.a.add(k0),
                lda = in(reg) lda,
                b0 = in(reg) b,
                b1 = in(reg) b.add(16),
                ldb = in(reg) panel_stride,
                options(nostack, readonly),
            );
        }
        std::arch::asm!(
            "tilestored [{c} + {ldc} * 1], tmm0",
            "tilestored [{c1} + {ldc} * 1], tmm1",
            "tilerelease",
            c = in(reg) t.c,
            c1 = in(reg) t.c.add(16),
            ldc = in(reg) ldc,
            options(nostack),
        );
    }
}
