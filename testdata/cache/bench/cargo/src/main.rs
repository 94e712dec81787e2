cfg_if::cfg_if! {
    if #[cfg(unix)] {
        const WHERE: &str = "unix";
    } else {
        const WHERE: &str = "elsewhere";
    }
}

fn main() {
    let mut buf = itoa::Buffer::new();
    println!("built with the cache on {WHERE}: {}", buf.format(42u32));
}
