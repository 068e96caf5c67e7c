from kerun.entry import main

main()
