//! The two C math functions the daemon calls, so that it does not load `libm.so`.
//!
//! Why (issue 8, idle RSS): only two functions of glibc's libm are called, `pow` (tokio's
//! multi-threaded scheduler keeps an average of its task poll times with `powf` at the end of
//! every batch of tasks a worker runs, so an idle daemon calls it several times a second) and
//! `exp2` (the RPC duration histogram's bucket bounds). For them, the kernel kept ~370 KiB of
//! libm resident in each daemon: its code and tables, mapped back 64 KiB around each page
//! touched (fault-around). Defined here, in the executable, they are the definitions the
//! linker binds those calls to; nothing else needs libm, so the linker (`--as-needed`) leaves
//! it out of the binary's dependencies. The implementations are the `libm` crate's (musl's,
//! to within an ulp of glibc's), not hand-written ones. `tests/test_memory.py` checks that
//! the daemon maps no libm; a dependency that calls another libm function brings libm back,
//! which that test reports, and which changes nothing else.

/// `pow(3)`, for the calls the compiler emits for `f64::powf`.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// `exp2(3)`, for the calls the compiler emits for `f64::exp2` (and `2f64.powf(x)`).
#[unsafe(no_mangle)]
pub extern "C" fn exp2(x: f64) -> f64 {
    libm::exp2(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pow_and_exp2_agree_with_the_standard_library_within_two_epsilons() {
        let close = |a: f64, b: f64| a == b || ((a - b) / b).abs() <= 2.0 * f64::EPSILON;
        for (x, y) in [
            (0.8, 3.0),
            (0.8, 17.5),
            (2.0, 10.0),
            (1.5, -2.25),
            (10.0, 0.5),
        ] {
            assert!(close(super::pow(x, y), x.powf(y)), "pow({x}, {y})");
        }
        for x in [-3.5, 0.0, 0.25, 10.0, 15.0] {
            assert!(close(super::exp2(x), x.exp2()), "exp2({x})");
        }
    }
}
