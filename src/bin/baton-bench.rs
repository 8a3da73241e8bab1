fn main() {
    eprintln!("baton-bench: the load generator is not written yet");
    std::process::exit(2);
}
