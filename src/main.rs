fn main() {
    println!("sipscope {}", env!("CARGO_PKG_VERSION"));
}
