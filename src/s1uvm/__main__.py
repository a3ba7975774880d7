from s1uvm.cli import main

main()
